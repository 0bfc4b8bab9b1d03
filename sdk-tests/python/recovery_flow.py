"""PIN recovery through the official LoginRadius Python SDK against `pinauth serve`, reading the OTPs
and links from the dev outbox the notifier writes.

Usage: recovery_flow.py BASE_URL API_KEY API_SECRET OUTBOX_FILE
"""
import json
import re
import sys
import time
import uuid

from LoginRadius import LoginRadius

from checks import expect_error, expect_ok




def message_to(outbox, to, count):
    """The count-th message to `to` in the outbox, waiting for it."""
    for _ in range(500):
        try:
            with open(outbox) as f:
                found = [m for m in map(json.loads, f) if m["to"] == to]
        except FileNotFoundError:
            found = []
        if len(found) >= count:
            return found[count - 1]["text"]
        time.sleep(0.02)
    sys.exit(f"no message #{count} to {to} in {outbox}")


def login_with_pin(lr, email, password, pin):
    login = expect_ok("password login", lr.authentication.login_by_email({"email": email, "password": password}))
    return lr.pin_authentication.pin_login({"pin": pin}, login["session_token"])


def main(base, key, secret, outbox):
    LoginRadius.API_KEY = key
    LoginRadius.API_SECRET = secret
    LoginRadius.CUSTOM_DOMAIN = base.rstrip("/") + "/"
    lr = LoginRadius()
    tag = uuid.uuid4().hex[:8]
    email, phone, password = f"sdk-{tag}@example.com", "+1415555" + str(int(tag, 16) % 10000).zfill(4), "sdk password 1"
    model = {
        "Email": [{"Type": "Primary", "Value": email}], "PhoneId": phone, "Password": password,
        "PINInfo": {"PIN": "7294", "Skipped": False}, "SecurityQuestionAnswer": {"q1": "Fluffy"},
    }
    expect_ok("registration", lr.authentication.user_registration_by_email(model, lr.get_sott()))

    # Forgot by email, reset by the token in the link.
    expect_ok("forgot PIN by email", lr.pin_authentication.send_forgot_pin_email_by_email({"email": email}))
    link = message_to(outbox, email, 1)
    token = re.search(r"vtoken=([0-9a-f-]+)", link).group(1)
    expect_ok("reset PIN by reset token", lr.pin_authentication.reset_pin_by_reset_token({"resetToken": token, "pin": "8316"}))
    expect_error("the same reset token again", lr.pin_authentication.reset_pin_by_reset_token({"resetToken": token, "pin": "5081"}), 1242)
    expect_ok("login by the reset PIN", login_with_pin(lr, email, password, "8316"))

    # Forgot by phone (SMS OTP), reset by phone and OTP.
    sent = expect_ok("forgot PIN by phone", lr.pin_authentication.send_forgot_pin_sms_by_phone({"phone": phone}))
    assert sent["Data"]["Sid"], sent
    otp = re.search(r"code is (\d+)", message_to(outbox, phone, 1)).group(1)
    expect_error("reset by phone with a wrong OTP", lr.pin_authentication.reset_pin_by_phone_and_otp({"phone": phone, "otp": "000000" if otp != "000000" else "111111", "pin": "5081"}), 1067)
    expect_ok("reset PIN by phone and OTP", lr.pin_authentication.reset_pin_by_phone_and_otp({"phone": phone, "otp": otp, "pin": "5081"}))
    expect_ok("login by the new PIN", login_with_pin(lr, email, password, "5081"))

    # Reset by security answer.
    expect_error("reset by a wrong answer", lr.pin_authentication.reset_pin_by_email_and_security_answer({"email": email, "pin": "6392", "securityAnswer": {"q1": "Rex"}}), 1093)
    expect_ok("reset PIN by email and security answer", lr.pin_authentication.reset_pin_by_email_and_security_answer({"email": email, "pin": "6392", "securityAnswer": {"q1": "fluffy"}}))
    expect_ok("login by the answered PIN", login_with_pin(lr, email, password, "6392"))
    print("python sdk: all passed")


if __name__ == "__main__":
    main(*sys.argv[1:5])
