#!/usr/bin/env python3
"""Writes server/openapi.json, the OpenAPI 3.1 description of every pinauth endpoint, from the
tables below: edit them and run `scripts/openapi.py`. `--check` (run by scripts/test) fails when the
committed file is not what they make. The Rust tests hold the file to the route tables, both ways.
"""
import json
import os
import sys
ERR = {"$ref": "#/components/schemas/Error"}
def ref(n): return {"$ref": f"#/components/schemas/{n}"}
S = lambda **p: {"type": "object", "properties": p, "additionalProperties": True}
STR = {"type": "string"}; BOOL = {"type": "boolean"}; INT = {"type": "integer"}
TIME = {"type": "string", "description": "ISO 8601 UTC, `yyyy-MM-ddTHH:mm:ss.fffffffZ`"}
NULLSTR = {"type": ["string", "null"]}

schemas = {
 "Error": {
  "type": "object",
  "description": "LoginRadius's error body: the code names the error, `Description` says why; `Data` carries `PINAuthToken` (1243) or `LoginLockedTimeout` (1198), `Errors` the fields that failed validation.",
  "required": ["Description", "ErrorCode", "Message", "IsProviderError", "ProviderErrorResponse"],
  "properties": {
   "Description": STR, "ErrorCode": INT, "Message": STR, "IsProviderError": BOOL,
   "ProviderErrorResponse": NULLSTR,
   "Data": {"type": ["object", "null"], "additionalProperties": True},
   "Errors": {"type": ["array", "null"], "items": {"type": "object", "properties": {"FieldName": STR, "ErrorMessage": STR}}},
  },
  "additionalProperties": True,
  "example": {"Description": "The provided PIN is invalid.", "ErrorCode": 1236, "Message": "Invalid PIN", "IsProviderError": False, "ProviderErrorResponse": None, "Data": None},
 },
 "Profile": {
  "type": "object",
  "description": "The account's profile: identifiers, the `PIN` block (`PIN.PIN` is `********` when a PIN is set, never a hash) and its profile fields.",
  "properties": {
   "Uid": STR, "ID": STR,
   "Email": {"type": ["array", "null"], "items": S(Type=STR, Value=STR)},
   "UserName": NULLSTR, "PhoneId": NULLSTR,
   "PIN": {"type": ["object", "null"], "additionalProperties": True},
  },
  "additionalProperties": True,
 },
 "AccessToken": {
  "type": "object",
  "description": "The token envelope of a login: the profile, an access token, its refresh token and, from a password login, registration or PIN setup, a PIN session token.",
  "required": ["access_token", "expires_in"],
  "properties": {"Profile": ref("Profile"), "access_token": STR, "refresh_token": STR, "expires_in": TIME, "session_token": STR, "session_expires_in": TIME},
  "additionalProperties": True,
 },
 "Posted": {"type": "object", "required": ["IsPosted"], "properties": {"IsPosted": BOOL}, "additionalProperties": True, "example": {"IsPosted": True}},
 "Deleted": {"type": "object", "required": ["IsDeleted"], "properties": {"IsDeleted": BOOL, "RecordsDeleted": INT}, "additionalProperties": True},
 "Questions": {"type": "array", "items": {"type": "object", "properties": {"QuestionId": STR, "Question": STR}, "additionalProperties": True}},
}

def q(name, desc, required=False, schema=None):
    return {"name": name, "in": "query", "required": required, "description": desc, "schema": schema or STR}
def h(name, desc, required=False):
    return {"name": name, "in": "header", "required": required, "description": desc, "schema": STR}
APIKEY = {"$ref": "#/components/parameters/apikey"}
SECRET = {"$ref": "#/components/parameters/apisecret"}
BEARER = {"$ref": "#/components/parameters/authorization"}
ACCESS = q("access_token", "The access token, when it is not in `Authorization: Bearer`.")
UID = {"name": "uid", "in": "path", "required": True, "description": "The account's `Uid`.", "schema": {"type": "string", "format": "uuid"}}
TYPE = {"name": "type", "in": "path", "required": True, "description": "The token's purpose: only `forgotpin` is issued.", "schema": {"type": "string", "example": "forgotpin"}}
FIELDS = q("fields", "Profile fields to answer, comma-separated (all when absent).")

components_params = {
 "apikey": {"name": "apikey", "in": "query", "required": True, "description": "The app's API key (any letter case of the name: `apiKey` too).", "schema": STR},
 "apisecret": {"name": "X-LoginRadius-ApiSecret", "in": "header", "required": True, "description": "The app's API secret (management calls).", "schema": STR},
 "authorization": {"name": "Authorization", "in": "header", "required": False, "description": "`Bearer <access token>`.", "schema": STR},
}

def body(props, required=(), desc=None, example=None):
    schema = {"type": "object", "properties": props, "additionalProperties": True}
    if required: schema["required"] = list(required)
    b = {"required": True, "content": {"application/json": {"schema": schema}}}
    if example is not None: b["content"]["application/json"]["example"] = example
    if desc: b["description"] = desc
    return b

def errors(codes):
    """codes: {status: 'text'}"""
    out = {}
    base = {
      "400": "Bad input: 922 API key missing, 920 API key invalid, 923 API secret missing, 908 a parameter is missing or malformed, 965 the body is not JSON.",
      "413": "The body is over `[http] max_body_bytes`.",
      "429": "The origin's throttle or the hashing pool is full; retry after `Retry-After`.",
      "503": "The event store is unavailable, or the read side is behind `X-PinAuth-Min-Position`.",
    }
    for k, v in {**base, **codes}.items():
        out[k] = {"description": v, "content": {"application/json": {"schema": ERR}}}
    out["default"] = {"description": "Any other LoginRadius error, in the same body.", "content": {"application/json": {"schema": ERR}}}
    return out

def op(summary, params, ok, okdesc="Success.", req=None, errs=None, tags=("command",), example=None, desc=None):
    o = {"summary": summary, "tags": list(tags), "parameters": params}
    if desc: o["description"] = desc
    if req: o["requestBody"] = req
    okc = {"schema": ok}
    if example is not None: okc["example"] = example
    o["responses"] = {"200": {"description": okdesc, "content": {"application/json": okc}}, **errors(errs or {})}
    return o

PINB = lambda: body({"PIN": STR}, ["PIN"], example={"PIN": "7294"})
TOKEN403 = lambda t: {"403": t}
paths = {}
def add(method, path, o):
    paths.setdefault(path, {})[method.lower()] = o

reg_body = body({
  "Email": {"type": "array", "items": S(Type=STR, Value=STR)}, "UserName": STR, "PhoneId": STR,
  "Password": STR, "PINInfo": S(PIN=STR, Skipped=BOOL), "SecurityQuestionAnswer": {"type": "object", "additionalProperties": STR},
}, example={"Email": [{"Type": "Primary", "Value": "ann@example.com"}], "Password": "correct horse battery", "PINInfo": {"PIN": "7294"}})
add("POST", "/identity/v2/auth/register", op("Register an account (email, username or phone, password, PIN).",
  [APIKEY, h("X-LoginRadius-Sott", "A SOTT, checked when `[http] require_sott` is on."), q("emailtemplate", "Ignored (no verification mail is sent)."), FIELDS],
  {"type": "object", "properties": {"IsPosted": BOOL, "Data": ref("AccessToken")}, "additionalProperties": True}, req=reg_body,
  errs={"403": "936/1017/1058 an identifier is taken (or answered as such), 1234 PIN required, 1048/1049 SOTT missing/invalid, 1226 PIN rejected by the policy."}))
add("POST", "/identity/v2/auth/login", op("Password login by email, username or phone.",
  [APIKEY, FIELDS], ref("AccessToken"),
  req=body({"email": STR, "username": STR, "phone": STR, "password": STR, "securityanswer": {"type": "object", "additionalProperties": STR}}, ["password"], example={"email": "ann@example.com", "password": "correct horse battery"}),
  errs={"401": "966 invalid user id or password.", "403": "1243 a required PIN is not set (`Data.PINAuthToken`), 1198 locked (`Data.LoginLockedTimeout`)."}))
add("POST", "/identity/v2/auth/login/pin", op("Login by PIN, with a PIN session token.",
  [APIKEY, q("session_token", "The PIN session token of a password login.", True), FIELDS], ref("AccessToken"), req=PINB(),
  errs={"401": "1236 invalid PIN.", "403": "1245/1246 session token invalid/expired, 1198 locked, 1244 PIN login not enabled, 1235 no PIN set."}))
add("POST", "/identity/v2/auth/pin/set/pinauthtoken", op("Set the PIN with the PINAuthToken of error 1243.",
  [APIKEY, q("pinauthtoken", "The token from `Data.PINAuthToken`.", True), FIELDS], ref("AccessToken"), req=PINB(),
  errs={"403": "1239/1240 PINAuth token invalid/expired, 1226 PIN rejected by the policy."}))
chg = lambda: op("Change the PIN under an access token.", [APIKEY, BEARER, ACCESS], ref("Posted"),
  req=body({"OldPIN": STR, "NewPIN": STR}, ["OldPIN", "NewPIN"], example={"OldPIN": "7294", "NewPIN": "4629"}),
  errs={"401": "1241 the current PIN is invalid.", "403": "905/906 access token invalid/expired, 1198 locked."})
add("PUT", "/identity/v2/auth/pin/change", chg()); add("POST", "/identity/v2/auth/pin/change", chg())
add("PUT", "/identity/v2/auth/account/reauth/pin", op("Re-authenticate with the PIN before a sensitive operation.",
  [APIKEY, BEARER, ACCESS], S(SecondFactorValidationToken=STR, ExpireIn=TIME), req=PINB(),
  errs={"401": "1236 invalid PIN (counts toward the lock).", "403": "905/906 access token invalid/expired, 1198 locked."}))
add("POST", "/identity/v2/manage/account/{uid}/reauth/pin", op("Validate a re-authentication token (app secret).",
  [APIKEY, SECRET, UID], S(IsValid=BOOL), req=body({"SecondFactorValidationToken": STR}, ["SecondFactorValidationToken"]),
  errs={"401": "902 the API secret is wrong.", "403": "1193 the token is not valid for this account."}, tags=("management",)))
add("GET", "/identity/v2/manage/account/sott", op("A SOTT for registrations (app secret).",
  [APIKEY, SECRET, q("timedifference", "Minutes of validity (10 when empty).")], S(Sott=STR, ExpiryTime=STR), errs={"401": "902 the API secret is wrong."}, tags=("management",)))
add("GET", "/identity/v2/serverinfo", op("Server time, for building SOTTs.",
  [APIKEY, q("timedifference", "Minutes of validity of the SOTT window.")], S(ServerLocation=STR, ServerName=STR, CurrentTime=STR, Sott=S(StartTime=STR, EndTime=STR, TimeDifference=STR))))
add("GET", "/identity/v2/manage/account/access_token/refresh/revoke", op("End a refresh token (app secret).",
  [APIKEY, SECRET, q("refresh_token", "The refresh token.", True)], ref("Deleted"), errs={"401": "902 the API secret is wrong.", "403": "1217 the refresh token is invalid."}, tags=("management",)))
add("GET", "/identity/v2/manage/account/access_token/refresh", op("A new access token for a refresh token (app secret).",
  [APIKEY, SECRET, q("refresh_token", "The refresh token.", True)], S(access_token=STR, refresh_token=STR, expires_in=TIME), errs={"401": "902 the API secret is wrong.", "403": "1217 the refresh token is invalid."}, tags=("management",)))
add("POST", "/identity/v2/manage/account", op("Account Create (app secret): one account with its password or password hash.",
  [APIKEY, SECRET], ref("Profile"), req=body({"Uid": STR, "Email": {"type": "array", "items": S(Type=STR, Value=STR)}, "UserName": STR, "PhoneId": STR, "Password": STR, "PasswordHash": S()}),
  errs={"401": "902 the API secret is wrong.", "403": "1044 the Uid exists, 936/1017/1058 an identifier is taken."}, tags=("management",)))
add("GET", "/identity/v2/auth/securityquestion/accesstoken", op("The configured security questions, for a valid access token.",
  [APIKEY, BEARER, ACCESS], ref("Questions"), errs={"403": "905/906 access token invalid/expired."}))
add("GET", "/identity/v2/auth/session_token/invalidate", op("End a PIN session token.",
  [APIKEY, q("session_token", "The PIN session token.", True)], ref("Posted"), errs={"403": "1245/1246 session token invalid/expired."}))
add("GET", "/identity/v2/auth/access_token/invalidate", op("End an access token (and with `preventRefresh=true` its refresh token).",
  [APIKEY, BEARER, ACCESS, q("preventRefresh", "`true` ends the refresh token too.")], ref("Posted"), errs={"403": "905/906 access token invalid/expired."}))
add("PUT", "/identity/v2/auth/account", op("Update the profile fields the body names, or set or skip an optional PIN.",
  [APIKEY, BEARER, ACCESS, q("nullsupport", "`true`: a `null` clears its field."), FIELDS], {"type": "object", "properties": {"IsPosted": BOOL, "Data": ref("Profile")}, "additionalProperties": True},
  req=body({"PINInfo": S(PIN=STR, Skipped=BOOL)}, example={"FirstName": "Ann"}), errs={"403": "905/906 access token invalid/expired, 1226 PIN rejected by the policy."}))
add("DELETE", "/identity/v2/auth/account", op("Mail the account a deletion link.",
  [APIKEY, BEARER, ACCESS, q("deleteUrl", "Where the link leads (must be allowed)."), q("emailTemplate", "The mail's template.")], {"type": "object", "required": ["IsDeleteRequestAccepted"], "properties": {"IsDeleteRequestAccepted": BOOL}, "additionalProperties": True}, errs={"403": "905/906 access token invalid/expired, 1248 the URL is not allowed."}))
add("GET", "/identity/v2/auth/account/delete", op("Delete the account, by its deletion link's token.",
  [APIKEY, q("deletetoken", "The link's token.", True)], ref("Posted"), errs={"403": "979 the link cannot be accessed (used, replaced, expired)."}))
add("DELETE", "/identity/v2/manage/account/{uid}", op("Delete an account at once (app secret).",
  [APIKEY, SECRET, UID], ref("Deleted"), errs={"401": "902 the API secret is wrong.", "403": "938 no account has this uid."}, tags=("management",)))
for kind, key in (("email", "Email"), ("username", "UserName")):
  add("POST", f"/identity/v2/auth/pin/forgot/{kind}", op(f"Send a PIN-reset link or OTP to the account of an {key}.",
    [APIKEY, q("emailtemplate", "The mail's template (an OTP template sends an OTP)."), q("resetpinurl", "Where the link leads (must be allowed).")],
    ref("Posted"), req=body({key: STR}, [key]), errs={"403": "1248 the reset URL is not allowed, 1179 request limit reached."}))
add("POST", "/identity/v2/auth/pin/forgot/otp", op("Send a PIN-reset OTP by SMS (or voice).",
  [APIKEY, q("smstemplate", "The SMS template."), q("isvoiceotp", "`true` for a voice call.")],
  {"type": "object", "properties": {"IsPosted": BOOL, "Data": S(AccountSid=STR, Sid=STR)}, "additionalProperties": True}, req=body({"Phone": STR}, ["Phone"]), errs={"403": "1179 request limit reached, 1123 SMS limit reached."}))
for kind, key in (("email", "Email"), ("phone", "Phone"), ("username", "UserName")):
  add("PUT", f"/identity/v2/auth/pin/reset/otp/{kind}", op(f"Reset the PIN with the OTP sent for an {key}.",
    [APIKEY], ref("Posted"), req=body({key: STR, "OTP": STR, "PIN": STR}, [key, "OTP", "PIN"]), errs={"403": "1067/1068/1069 OTP invalid/used/expired, 1226 PIN rejected by the policy."}))
  add("PUT", f"/identity/v2/auth/pin/reset/securityanswer/{kind}", op(f"Reset the PIN with security answers, for an {key}.",
    [APIKEY], ref("Posted"), req=body({key: STR, "PIN": STR, "SecurityAnswer": {"type": "object", "additionalProperties": STR}}, [key, "PIN", "SecurityAnswer"]), errs={"403": "1093/1094 answers incorrect, 1198 locked, 1226 PIN rejected by the policy."}))
for kind in ("email", "username", "phone"):
  add("GET", f"/identity/v2/auth/securityquestion/{kind}", op(f"The security questions of the account of a {kind} (decoys for one that has none).",
    [APIKEY, q(kind, f"The {kind}.", True)], ref("Questions")))
add("PUT", "/identity/v2/auth/pin/reset/token", op("Reset the PIN with the token of a reset link.",
  [APIKEY], ref("Posted"), req=body({"ResetToken": STR, "PIN": STR}, ["ResetToken", "PIN"]), errs={"403": "1242 the link was used, 979 the link cannot be accessed, 1226 PIN rejected by the policy."}))
add("PUT", "/identity/v2/manage/account/{uid}/pin/unlock", op("Clear the account's locks and failure counts (app secret).",
  [APIKEY, SECRET, UID], ref("Posted"), errs={"401": "902 the API secret is wrong.", "403": "938 no account has this uid."}, tags=("management",)))
add("PUT", "/identity/v2/manage/account/{uid}", op("Account Update (app secret): the profile fields the body names.",
  [APIKEY, SECRET, UID, q("nullsupport", "`true`: a `null` clears its field.")], ref("Profile"), req=body({}), errs={"401": "902 the API secret is wrong.", "403": "938 no account has this uid."}, tags=("management",)))
add("POST", "/identity/v2/manage/account/emailtoken/{type}", op("A PIN-reset token for the app to deliver (app secret); only `forgotpin`.",
  [APIKEY, SECRET, TYPE], S(Token=STR, ExpiresIn=TIME, IdentityProviders={"type": "null"}), req=body({"Email": STR}, ["Email"]), errs={"401": "902 the API secret is wrong.", "403": "1181 another type, 1023 no account has this email."}, tags=("management",)))
add("POST", "/identity/v2/manage/account/smsotp/{type}", op("A PIN-reset OTP for the app to deliver (app secret); only `forgotpin`.",
  [APIKEY, SECRET, TYPE], S(Token=STR, ExpiresIn=TIME), req=body({"Phone": STR}, ["Phone"]), errs={"401": "902 the API secret is wrong.", "403": "1182 another type, 1043 no account has this phone."}, tags=("management",)))

# query
Q = ("query",)
add("GET", "/identity/v2/auth/access_token/validate", op("Whether an access token is valid, and until when.",
  [APIKEY, BEARER, ACCESS, h("X-PinAuth-Min-Position", "Wait for this log position (from `X-PinAuth-Position`) first.")], S(access_token=STR, expires_in=TIME), errs={"403": "905/906 access token invalid/expired."}, tags=Q))
add("GET", "/identity/v2/auth/access_token", op("An access token's info.",
  [APIKEY, BEARER, ACCESS], S(provider=STR, access_token=STR, isrememberme=BOOL), errs={"403": "905/906 access token invalid/expired."}, tags=Q))
add("GET", "/identity/v2/auth/account", op("The profile of an access token's account.",
  [APIKEY, BEARER, ACCESS, FIELDS], ref("Profile"), errs={"403": "905/906 access token invalid/expired."}, tags=Q))
add("GET", "/identity/v2/auth/session_token/validate", op("Whether a PIN session token is valid, and until when (pinauth's own).",
  [APIKEY, q("session_token", "The PIN session token.", True)], S(session_token=STR, session_expires_in=TIME), errs={"403": "1245/1246 session token invalid/expired."}, tags=Q))
add("GET", "/identity/v2/manage/account/pin/lockouts", op("Every locked account (app secret).",
  [APIKEY, SECRET], S(Count=INT, Data={"type": "array", "items": S()}), errs={"401": "902 the API secret is wrong."}, tags=("query", "management")))
add("GET", "/identity/v2/manage/account/{uid}/pin/lockout", op("An account's lockout status (app secret).",
  [APIKEY, SECRET, UID], S(IsLocked=BOOL, LockCount=INT, PinFailures=INT, PasswordFailures=INT), errs={"401": "902 the API secret is wrong.", "403": "938 no account has this uid."}, tags=("query", "management")))
add("GET", "/identity/v2/manage/account/{uid}/pin/attempts", op("An account's recent failed and refused attempts (app secret).",
  [APIKEY, SECRET, UID], S(Count=INT, Data={"type": "array", "items": S()}), errs={"401": "902 the API secret is wrong.", "403": "938 no account has this uid."}, tags=("query", "management")))
add("GET", "/identity/v2/manage/account/{uid}", op("Account Profiles by UID (app secret).",
  [APIKEY, SECRET, UID, FIELDS], ref("Profile"), errs={"401": "902 the API secret is wrong.", "403": "938 no account has this uid."}, tags=("query", "management")))

# the server's own
def plain(summary, schema, ctype="application/json", errs=None, params=()):
    o = {"summary": summary, "tags": ["operations"], "parameters": list(params), "responses": {"200": {"description": "Success.", "content": {ctype: {"schema": schema}}}}}
    for k, v in (errs or {}).items():
        o["responses"][k] = {"description": v, "content": {"application/json": {"schema": ERR if k != "503" else S(status=STR)}}}
    return o
paths["/health/live"] = {"get": plain("The process runs.", S(status=STR))}
paths["/health/ready"] = {"get": plain("The read models have caught up and the event store serves.", S(status=STR), errs={"503": "Not ready, and why (`status`)."})}
paths["/metrics"] = {"get": plain("Prometheus metrics (text format 0.0.4).", STR, "text/plain", errs={"401": "902: `[metrics] token` is set and the request does not carry it."}, params=[h("Authorization", "`Bearer <[metrics] token>`, when one is set.")])}
paths["/openapi.json"] = {"get": plain("This description, of what this process serves.", {"type": "object"})}

doc = {
 "openapi": "3.1.0",
 "info": {"title": "pinauth", "version": "0.1.0",
   "description": "Self-hosted PIN authentication, wire-compatible with LoginRadius's PIN Authentication API. Paths, query names and JSON keys match in any letter case; every error is LoginRadius's error body with its code and HTTP status. Each process serves the part of this description it answers: `pinauth command` the command and management writes, `pinauth query` the reads, `pinauth serve` all of it.",
   "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"}},
 "servers": [{"url": "/"}],
 "tags": [{"name": "command", "description": "Writes: registration, logins, PIN set, change and recovery."}, {"name": "management", "description": "Calls with the app secret in `X-LoginRadius-ApiSecret`."}, {"name": "query", "description": "Reads over the read models."}, {"name": "operations", "description": "Health, metrics and this description."}],
 "paths": dict(sorted(paths.items())),
 "components": {"schemas": schemas, "parameters": components_params},
}
target = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "server", "openapi.json")
text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
if sys.argv[1:] == ["--check"]:
    with open(target) as committed:
        if committed.read() != text:
            sys.exit("server/openapi.json is not what scripts/openapi.py makes: run scripts/openapi.py")
else:
    with open(target, "w") as out:
        out.write(text)
    print(sum(len(v) for v in paths.values()), "operations written to server/openapi.json")
