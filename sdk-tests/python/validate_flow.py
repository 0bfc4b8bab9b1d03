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
    model = {"Email": [{"Type": "Primary", "Value": email}], "Password": "sdk password 1", "PINInfo": {"PIN": "7294", "Skipped": False}}
    registered = expect_ok("registration with a PIN", lr.authentication.user_registration_by_email(model, lr.get_sott()))
    access_token = registered["Data"]["access_token"]

    valid = expect_ok("validate the access token", lr.authentication.auth_validate_access_token(access_token))
    assert valid["access_token"] == access_token and valid["expires_in"].endswith("Z"), valid

    profile = expect_ok("read the profile", lr.authentication.get_profile_by_access_token(access_token))
    assert profile["Email"][0]["Value"] == email, profile
    # A PIN is set: not null, as LoginRadius's samples show, and never the PIN or its hash.
    assert profile["PIN"]["Skipped"] is False and profile["PIN"]["PIN"] == "********", profile

    expect_error("an unknown access token", lr.authentication.auth_validate_access_token(str(uuid.uuid4())), 905)
    print("python sdk: all passed")


if __name__ == "__main__":
    main(*sys.argv[1:4])
