"""Shared checks for the SDK flows: stop at the first answer that is not what was expected."""
import sys


def expect_ok(what, answer):
    if not isinstance(answer, dict) or answer.get("ErrorCode"):
        sys.exit(f"{what}: expected success, got {answer!r}")
    print(f"ok: {what}")
    return answer


def expect_error(what, answer, code):
    if not isinstance(answer, dict) or answer.get("ErrorCode") != code:
        sys.exit(f"{what}: expected ErrorCode {code}, got {answer!r}")
    print(f"ok: {what} -> {code}")
    return answer
