//! Response bodies in LoginRadius's shapes. A successful body never contains a `Description` key
//! (the Java SDK treats one as an error).

use crate::profile::ProfileFields;
use pinauth_domain::{Account, AccountId, Email, Identifiers, Phone, Timestamp, Username};
use serde_json::{Map, Value, json};

/// LoginRadius's placeholder for a date that was never set (`SkippedDate` in their samples).
const NEVER: &str = "0001-01-01T00:00:00.0000000Z";

/// What a profile answer shows, from whichever side keeps it (the command side's `Account`, the
/// read side's compact view).
#[derive(Clone, Copy, Debug)]
pub struct ProfileFacts<'a> {
    /// The account.
    pub account_id: AccountId,
    /// Normalized email.
    pub email: Option<&'a Email>,
    /// Normalized username.
    pub username: Option<&'a Username>,
    /// Normalized phone.
    pub phone: Option<&'a Phone>,
    /// A PIN is set.
    pub pin_set: bool,
    /// When the holder skipped the optional PIN.
    pub pin_skipped_at: Option<Timestamp>,
    /// When the PIN was last set, changed or reset.
    pub pin_changed_at: Option<Timestamp>,
    /// Locked now.
    pub locked: bool,
    /// When it was registered.
    pub registered_at: Timestamp,
    /// Its profile fields, opened.
    pub fields: &'a ProfileFields,
}

/// The profile LoginRadius returns, with the `PIN` block but never a hash, and the account's
/// `identifiers` and profile `fields` (opened by the caller).
pub fn profile(
    account: &Account,
    identifiers: &Identifiers,
    fields: &ProfileFields,
    now: Timestamp,
) -> Value {
    let Ok(p) = account.profile() else {
        return Value::Null;
    };
    let pin = account.pin();
    profile_of(&ProfileFacts {
        account_id: p.account_id,
        email: identifiers.email.as_ref(),
        username: identifiers.username.as_ref(),
        phone: identifiers.phone.as_ref(),
        pin_set: pin.hash.is_some(),
        pin_skipped_at: pin.skipped_at,
        pin_changed_at: pin.last_changed_at,
        locked: account.lockout().lock_at(now).is_some(),
        registered_at: p.registered_at,
        fields,
    })
}

/// `Profile.PIN.PIN` when a PIN is set. LoginRadius shows its stored hash there; clients only test
/// it for null, so pinauth shows a fixed mask that says nothing of the PIN or its hash.
pub const PIN_SET: &str = "********";

/// The profile LoginRadius returns, from its facts.
pub fn profile_of(p: &ProfileFacts<'_>) -> Value {
    let mut profile = json!({
        "ID": p.account_id.to_string(),
        "Uid": p.account_id.to_string(),
        "Email": p.email.map(|e| json!([{ "Type": "Primary", "Value": e.as_str() }])),
        "UserName": p.username.map(|u| u.as_str()),
        "PhoneId": p.phone.map(|ph| ph.as_str()),
        "PIN": {
            "Skipped": !p.pin_set && p.pin_skipped_at.is_some(),
            "PIN": if p.pin_set { Value::from(PIN_SET) } else { Value::Null },
            "LastPINChangeDate": p.pin_changed_at.map(|t| t.to_rfc3339()),
            "SkippedDate": p.pin_skipped_at.map_or_else(|| NEVER.to_owned(), |t| t.to_rfc3339()),
        },
        "IsLoginLocked": p.locked,
        "LoginLockedType": if p.locked { "Suspend" } else { "None" },
        "CreatedDate": p.registered_at.to_rfc3339(),
    });
    if let Value::Object(map) = &mut profile {
        p.fields.write_into(map);
    }
    profile
}

/// A token as handed out: its text and when it expires.
pub struct TokenView<'a> {
    /// The token (a GUID).
    pub token: &'a str,
    /// Its expiry.
    pub expires_at: Timestamp,
}

/// The AccessToken envelope: `Profile`, `access_token`, `refresh_token`, `expires_in`, and
/// `session_token`/`session_expires_in` when a PIN session was issued.
pub fn envelope(
    access: TokenView<'_>,
    refresh: TokenView<'_>,
    session: Option<TokenView<'_>>,
    profile: Value,
) -> Value {
    let mut body = Map::new();
    body.insert("Profile".into(), profile);
    body.insert(
        "access_token".into(),
        Value::String(access.token.to_owned()),
    );
    body.insert(
        "refresh_token".into(),
        Value::String(refresh.token.to_owned()),
    );
    body.insert(
        "expires_in".into(),
        Value::String(access.expires_at.to_rfc3339()),
    );
    if let Some(session) = session {
        body.insert(
            "session_token".into(),
            Value::String(session.token.to_owned()),
        );
        body.insert(
            "session_expires_in".into(),
            Value::String(session.expires_at.to_rfc3339()),
        );
    }
    Value::Object(body)
}

/// `{"IsPosted": true}`.
pub fn posted() -> Value {
    json!({ "IsPosted": true })
}
