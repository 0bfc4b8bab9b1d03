"""Import rows whose password hashes are made by reference implementations (Python's hashlib and
hmac, the bcrypt and argon2-cffi packages, pycryptodome's MD4), never by the crates pinauth
verifies them with. One JSON line per supported algorithm, in the generic format of README's
"Migrating users", for the account `<name>@example.com`.

Usage: legacy_hashes.py PASSWORD > rows.jsonl
"""

import base64
import hashlib
import hmac
import json
import sys
import uuid

import argon2
import bcrypt
from Crypto.Hash import MD4


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def b64_phc(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def rows(password: str):
    pw = password.encode()
    salt = "s4lt!"
    sb = salt.encode()
    raw_salt = bytes(range(1, 17))
    yield "md5", {"Algorithm": "MD5", "Value": hashlib.md5(pw).hexdigest()}
    # LoginRadius's per-password-salt form, `hash:salt`, with MD5 [Magento]'s md5(salt + password).
    yield "magento", {
        "Algorithm": "MD5 [Magento]",
        "Value": hashlib.md5(sb + pw).hexdigest() + ":" + salt,
    }
    yield "sha1", {
        "Algorithm": "SHA-1",
        "Value": hashlib.sha1(pw + sb).hexdigest().upper(),
        "Salt": salt,
        "SaltPosition": "Append",
    }
    yield "sha256", {
        "Algorithm": "SHA-256",
        "Value": b64(hashlib.sha256(sb + pw).digest()),
        "Salt": salt,
        "SaltPosition": "Prepend",
    }
    yield "sha512", {"Algorithm": "SHA-512", "Value": hashlib.sha512(pw).hexdigest()}
    twice = hashlib.sha256(hashlib.sha256(pw).digest()).hexdigest()
    yield "sha256twice", {"Algorithm": "SHA-256", "Value": twice, "Iterations": 2}
    yield "hmacsha1", {
        "Algorithm": "HMAC_SHA1",
        "Value": hmac.new(sb, pw, hashlib.sha1).hexdigest(),
        "Salt": salt,
    }
    yield "hmacsha256", {
        "Algorithm": "HMAC_SHA-256",
        "Value": hmac.new(sb, pw + sb, hashlib.sha256).hexdigest(),
        "Salt": salt,
        "SaltPosition": "Append",
    }
    yield "hmacsha512", {
        "Algorithm": "HMAC_SHA512",
        "Value": b64(hmac.new(sb, pw, hashlib.sha512).digest()),
        "Salt": salt,
    }
    yield "nthash", {
        "Algorithm": "NT Hash",
        "Value": MD4.new(password.encode("utf-16le")).hexdigest(),
    }
    # LoginRadius's own: .NET's Rfc2898DeriveBytes, PBKDF2-HMAC-SHA1.
    key = hashlib.pbkdf2_hmac("sha1", pw, raw_salt, 1000, 32)
    yield "rfc2898", {
        "Algorithm": "PBKDF2",
        "Value": f"Rfc2898DeriveBytes$1000${b64(raw_salt)}${b64(key)}",
    }
    key = hashlib.pbkdf2_hmac("sha256", pw, sb, 5000, 32)
    yield "pbkdf2sha256", {
        "Algorithm": "PBKDF2",
        "Digest": "SHA256",
        "Value": b64(key),
        "Salt": salt,
        "Iterations": 5000,
    }
    key = hashlib.pbkdf2_hmac("sha512", pw, raw_salt, 3000, 64)
    yield "pbkdf2sha512", {
        "Algorithm": "PBKDF2-SHA512",
        "Value": key.hex(),
        "Salt": raw_salt.hex(),
        "SaltEncoding": "hex",
        "Iterations": 3000,
    }
    key = hashlib.scrypt(pw, salt=raw_salt, n=1024, r=8, p=1, dklen=32)
    yield "scrypt", {
        "Algorithm": "scrypt",
        "Value": f"$scrypt$ln=10,r=8,p=1${b64_phc(raw_salt)}${b64_phc(key)}",
    }
    key = hashlib.scrypt(pw, salt=sb, n=2048, r=4, p=1, dklen=32)
    yield "scryptparts", {
        "Algorithm": "scrypt",
        "Value": b64(key),
        "Salt": salt,
        "Iterations": 2048,
        "BlockSize": 4,
    }
    yield "bcrypt", {
        "Algorithm": "bcrypt",
        "Value": bcrypt.hashpw(pw, bcrypt.gensalt(rounds=4)).decode(),
    }
    yield "bcrypt2a", {
        "Algorithm": "bcrypt",
        "Value": bcrypt.hashpw(pw, bcrypt.gensalt(rounds=5, prefix=b"2a")).decode(),
    }
    for name, kind in [("argon2id", argon2.Type.ID), ("argon2i", argon2.Type.I)]:
        hasher = argon2.PasswordHasher(time_cost=2, memory_cost=256, parallelism=1, type=kind)
        yield name, {"Algorithm": name, "Value": hasher.hash(password)}


def main():
    password = sys.argv[1]
    for name, spec in rows(password):
        print(
            json.dumps(
                {
                    "Uid": uuid.uuid4().hex,
                    "Email": [{"Type": "Primary", "Value": f"{name}@example.com"}],
                    "FirstName": name,
                    "PasswordHash": spec,
                }
            )
        )


if __name__ == "__main__":
    main()
