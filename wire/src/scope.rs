//! What the request log says of a request beyond its route and status: its id (also the
//! correlation id of every event it writes) and the account it acted on, if any. The entry that
//! logs requests runs each in a [`scope`]; the command and query layers read the id and note the
//! account from inside it. Outside a scope (a test calling a layer directly) nothing is noted
//! and [`id`] is `None`.

use pinauth_domain::AccountId;
use std::cell::Cell;
use std::future::Future;
use uuid::Uuid;

struct Current {
    /// Drawn when first asked for: a request that writes nothing and is not logged draws none.
    id: Cell<Option<Uuid>>,
    account: Cell<Option<AccountId>>,
}

/// What a request's scope saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    /// Its id, if anything asked for one.
    pub id: Option<Uuid>,
    /// The account it noted last.
    pub account: Option<AccountId>,
}

tokio::task_local! {
    static CURRENT: Current;
}

/// Runs `request` in a scope of its own; gives its output and what the scope saw.
pub async fn scope<F: Future>(request: F) -> (F::Output, Seen) {
    let current = Current {
        id: Cell::new(None),
        account: Cell::new(None),
    };
    CURRENT
        .scope(current, async move {
            let output = request.await;
            let seen = CURRENT
                .try_with(|c| Seen {
                    id: c.id.get(),
                    account: c.account.get(),
                })
                .unwrap_or_default();
            (output, seen)
        })
        .await
}

/// The id of the request being served, inside a scope (drawn on the first call).
pub fn id() -> Option<Uuid> {
    CURRENT
        .try_with(|c| {
            let id = c.id.get().unwrap_or_else(Uuid::new_v4);
            c.id.set(Some(id));
            id
        })
        .ok()
}

/// Notes that the request being served acts on `account`.
pub fn note_account(account: AccountId) {
    let _ = CURRENT.try_with(|c| c.account.set(Some(account)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_scope_gives_its_id_and_the_account_noted_inside_it() {
        let account = AccountId::from_uuid(Uuid::new_v4());
        let (asked, seen) = scope(async {
            note_account(account);
            (super::id(), super::id())
        })
        .await;
        assert_eq!(asked.0, asked.1, "one id per request");
        assert_eq!(
            seen,
            Seen {
                id: asked.0,
                account: Some(account)
            }
        );
        assert!(asked.0.is_some());
        let ((), seen) = scope(async {}).await;
        assert_eq!(seen.id, None, "none drawn when none is asked for");
        assert_eq!(super::id(), None, "outside a scope");
        note_account(account); // does nothing, does not panic
    }
}
