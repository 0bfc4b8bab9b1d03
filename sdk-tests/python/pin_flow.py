"""Drives pinauth through the official LoginRadius Python SDK (loginradius-v2).

Usage: pin_flow.py BASE_URL API_KEY API_SECRET
Exits non-zero, printing the answer that broke, on the first unexpected answer.
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
    password = "sdk password 1"

    # Registration with a SOTT the SDK makes itself (12-hour clock, no AM/PM); the PIN is required
    # and not given, so pinauth asks for it with 1243.
    model = {"Email": [{"Type": "Primary", "Value": email}], "Password": password}
    registered = lr.authentication.user_registration_by_email(model, lr.get_sott())
    expect_error("registration without the required PIN", registered, 1243)

    login = lr.authentication.login_by_email({"email": email, "password": password})
    pin_auth_token = expect_error("password login", login, 1243)["Data"]["PINAuthToken"]

    session = expect_ok("set PIN by PinAuthToken", lr.pin_authentication.set_pin_by_pin_auth_token({"pin": "7294"}, pin_auth_token))
    assert session["session_token"] and session["access_token"], session

    by_pin = expect_ok("login by PIN", lr.pin_authentication.pin_login({"pin": "7294"}, session["session_token"]))
    assert by_pin["Profile"]["Email"][0]["Value"] == email, by_pin

    wrong = lr.pin_authentication.pin_login({"pin": "1357"}, session["session_token"])
    expect_error("login by a wrong PIN", wrong, 1236)

    changed = lr.pin_authentication.change_pin_by_access_token(by_pin["access_token"], {"oldPIN": "7294", "newPIN": "8316"})
    assert expect_ok("change PIN", changed)["IsPosted"] is True, changed

    again = expect_ok("login by the new PIN", lr.pin_authentication.pin_login({"pin": "8316"}, session["session_token"]))

    # Re-authentication before a sensitive operation: the app's backend validates the token once.
    reauth = lr.re_authentication.verify_pin_authentication(again["access_token"], {"pin": "8316"})
    token = expect_ok("PIN re-authentication", reauth)["SecondFactorValidationToken"]
    uid = again["Profile"]["Uid"]
    valid = lr.re_authentication.verify_multi_factor_pin_reauthentication({"SecondFactorValidationToken": token}, uid)
    assert expect_ok("validate the re-authentication", valid)["IsValid"] is True, valid
    reused = lr.re_authentication.verify_multi_factor_pin_reauthentication({"SecondFactorValidationToken": token}, uid)
    expect_error("validate the re-authentication twice", reused, 1193)
    wrong = lr.re_authentication.verify_pin_authentication(again["access_token"], {"pin": "1357"})
    expect_error("re-authentication with a wrong PIN", wrong, 1236)

    invalidated = lr.pin_authentication.in_validate_pin_session_token(session["session_token"])
    assert expect_ok("invalidate PIN session token", invalidated)["IsPosted"] is True, invalidated
    expect_error("login by PIN after invalidation", lr.pin_authentication.pin_login({"pin": "8316"}, session["session_token"]), 1245)
    print("python sdk: all passed")


if __name__ == "__main__":
    main(*sys.argv[1:4])
