"""Validates an access token and reads the profile through the official LoginRadius Python SDK.

Usage: validate_flow.py BASE_URL API_KEY API_SECRET
"""
import sys
import uuid

from LoginRadius import LoginRadius

from checks import expect_error, expect_ok



def main(base, key, secret):
    LoginRadius.API_KEY = key
    LoginRadius.API_SECRET = secret
    LoginRadius.CUSTOM_DOMAIN = base.rstrip("/") + "/"
    lr = LoginRadius()
    email = f"sdk-{uuid.uuid4().hex[:8]}@example.com"
    model = {"Email": [{"Type": "Primary", "Value": email}], "Password": "sdk password 1", "PINInfo": {"PIN": "7294", "Skipped": False},
             "FirstName": "Ann", "City": "Oslo", "CustomFields": {"plan": "gold"}}
    registered = expect_ok("registration with a PIN", lr.authentication.user_registration_by_email(model, lr.get_sott()))
    access_token = registered["Data"]["access_token"]

    valid = expect_ok("validate the access token", lr.authentication.auth_validate_access_token(access_token))
    assert valid["access_token"] == access_token and valid["expires_in"].endswith("Z"), valid

    profile = expect_ok("read the profile", lr.authentication.get_profile_by_access_token(access_token))
    assert profile["Email"][0]["Value"] == email, profile
    assert profile["FirstName"] == "Ann" and profile["City"] == "Oslo" and profile["CustomFields"] == {"plan": "gold"}, profile
    # A PIN is set: not null, as LoginRadius's samples show, and never the PIN or its hash.
    assert profile["PIN"]["Skipped"] is False and profile["PIN"]["PIN"] == "********", profile

    # An ordinary profile update (no PINInfo), as any SDK app makes one.
    updated = expect_ok("profile update without PINInfo", lr.authentication.update_profile_by_access_token(access_token, {"FirstName": "Anna"}))
    assert updated["IsPosted"] is True and updated["Data"]["FirstName"] == "Anna" and updated["Data"]["City"] == "Oslo", updated
    cleared = expect_ok("profile update with nullSupport", lr.authentication.update_profile_by_access_token(access_token, {"City": None}, null_support=True))
    assert cleared["Data"]["City"] is None, cleared
    selected = expect_ok("read the profile with fields", lr.authentication.get_profile_by_access_token(access_token, fields="FirstName,Email/Value"))
    assert selected == {"FirstName": "Anna", "Email": [{"Value": email}]}, selected
    expect_error("a bad birth date", lr.authentication.update_profile_by_access_token(access_token, {"BirthDate": "31-31-1990"}), 968)

    # The app's backend reads and updates the profile by uid.
    uid = profile["Uid"]
    by_uid = expect_ok("profile by uid", lr.account.get_account_profile_by_uid(uid))
    assert by_uid["FirstName"] == "Anna", by_uid
    changed = expect_ok("update by uid", lr.account.update_account_by_uid({"LastName": "Berg"}, uid))
    assert changed["LastName"] == "Berg" and changed["FullName"] == "Anna Berg", changed
    expect_error("profile of an unknown uid", lr.account.get_account_profile_by_uid(uuid.uuid4().hex), 938)

    # The app's backend creates an account (Account Create), keeping the Uid it had elsewhere.
    kept_uid = uuid.uuid4().hex
    made_email = f"sdk-made-{uuid.uuid4().hex[:8]}@example.com"
    created = expect_ok("account create", lr.account.create_account(
        {"Email": [{"Type": "Primary", "Value": made_email}], "Password": "sdk password 2", "FirstName": "Made", "Uid": kept_uid}))
    assert created["Uid"].replace("-", "") == kept_uid and created["FirstName"] == "Made", created
    # The password is right; no PIN came with the account, and the site requires one: 1243.
    expect_error("password login of the created account", lr.authentication.login_by_email({"email": made_email, "password": "sdk password 2"}), 1243)
    expect_error("account create of a taken email", lr.account.create_account(
        {"Email": [{"Type": "Primary", "Value": made_email}], "Password": "sdk password 2"}), 936)

    # The questions the site offers, by access token (a list, not an error object).
    questions = lr.authentication.get_security_questions_by_access_token(access_token)
    assert isinstance(questions, list) and questions and all(q["QuestionId"] and q["Question"] for q in questions), questions
    print("ok: security questions by access token")

    # SOTTs from the server's clock (server info) and from the management API admit registrations.
    info = expect_ok("server info", lr.configuration.get_server_info())
    assert info["Sott"]["TimeDifference"] == "10 Minutes" and info["CurrentTime"], info
    made = expect_ok("generate a SOTT", lr.sott.generate_sott(10))
    for label, sott in [("a server-clock SOTT", lr.get_sott(getLRserverTime=True)), ("a management SOTT", made["Sott"])]:
        other = {"Email": [{"Type": "Primary", "Value": f"sdk-{uuid.uuid4().hex[:8]}@example.com"}], "Password": "sdk password 1", "PINInfo": {"PIN": "7294", "Skipped": False}}
        expect_ok(f"registration with {label}", lr.authentication.user_registration_by_email(other, sott))

    expect_error("an unknown access token", lr.authentication.auth_validate_access_token(str(uuid.uuid4())), 905)
    print("python sdk: all passed")


if __name__ == "__main__":
    main(*sys.argv[1:4])
