//! Message templates, with LoginRadius's placeholders: `#OTP#`, `#Url#` (the reset link), `#GUID#`
//! (the reset token) and `#OTPExpiry#` (minutes the code stays valid).

use serde::Deserialize;
use std::collections::BTreeMap;

/// Which channel a template is for.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TemplateChannel {
    /// Email.
    #[default]
    Email,
    /// SMS.
    Sms,
}

/// One template.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// Email or SMS.
    #[serde(default)]
    pub channel: TemplateChannel,
    /// An email template that sends an OTP (`#OTP#`) rather than a link (`#Url#`); SMS always OTP.
    #[serde(default)]
    pub otp: bool,
    /// Email subject (ignored for SMS).
    #[serde(default)]
    pub subject: String,
    /// The text.
    pub body: String,
}

/// Templates by name.
#[derive(Clone, Debug)]
pub struct Templates(pub BTreeMap<String, Template>);

impl Default for Templates {
    fn default() -> Self {
        let t = |channel, otp, subject: &str, body: &str| Template {
            channel,
            otp,
            subject: subject.into(),
            body: body.into(),
        };
        Self(BTreeMap::from([
            (
                "account-delete".into(),
                t(
                    TemplateChannel::Email,
                    false,
                    "Delete your account",
                    "Someone asked to delete your account. If it was you, open this link to delete it for good:\n\n#Url#\n\nIf not, ignore this message: nothing is deleted.",
                ),
            ),
            (
                "pin-reset-link".into(),
                t(
                    TemplateChannel::Email,
                    false,
                    "Reset your PIN",
                    "Someone asked to reset the PIN of your account. If it was you, open this link:\n\n#Url#\n\nIf not, ignore this message.",
                ),
            ),
            (
                "pin-reset-otp".into(),
                t(
                    TemplateChannel::Email,
                    true,
                    "Your PIN reset code",
                    "Your PIN reset code is #OTP#. It expires in #OTPExpiry# minutes.",
                ),
            ),
            (
                "pin-reset-sms".into(),
                t(
                    TemplateChannel::Sms,
                    true,
                    "",
                    "Your PIN reset code is #OTP#. It expires in #OTPExpiry# minutes.",
                ),
            ),
        ]))
    }
}

/// The values placeholders stand for.
pub struct Values<'a> {
    pub otp: Option<&'a str>,
    pub link: Option<&'a str>,
    pub token: Option<&'a str>,
    pub expiry_minutes: u64,
}

impl Templates {
    /// The defaults, with `extra` added or replacing them by name.
    pub fn with(extra: BTreeMap<String, Template>) -> Self {
        let mut all = Self::default();
        all.0.extend(extra);
        all
    }

    /// Email template names, each with whether it sends an OTP.
    pub fn email(&self) -> Vec<(String, bool)> {
        self.0
            .iter()
            .filter(|(_, t)| t.channel == TemplateChannel::Email)
            .map(|(n, t)| (n.clone(), t.otp))
            .collect()
    }

    /// SMS template names.
    pub fn sms(&self) -> Vec<String> {
        self.0
            .iter()
            .filter(|(_, t)| t.channel == TemplateChannel::Sms)
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// `(subject, body)` of `name` (or of `fallback` if `name` is unknown) with `values` filled in.
    pub fn render(
        &self,
        name: Option<&str>,
        fallback: &str,
        values: &Values<'_>,
    ) -> (String, String) {
        let template = name
            .and_then(|n| self.0.get(n))
            .or_else(|| self.0.get(fallback));
        let fill = |text: &str| {
            text.replace("#OTP#", values.otp.unwrap_or(""))
                .replace("#Url#", values.link.unwrap_or(""))
                .replace("#GUID#", values.token.unwrap_or(""))
                .replace("#OTPExpiry#", &values.expiry_minutes.to_string())
        };
        match template {
            Some(t) => (fill(&t.subject), fill(&t.body)),
            None => (
                "PIN reset".into(),
                fill(
                    values
                        .otp
                        .map_or("Reset your PIN: #Url#", |_| "Your PIN reset code is #OTP#"),
                ),
            ),
        }
    }
}
