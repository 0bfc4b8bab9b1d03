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
    id: Uuid,
    account: Cell<Option<AccountId>>,
}

tokio::task_local! {
    static CURRENT: Current;
}

/// Runs `request` as the request `id`; gives its output and the account it noted last.
pub async fn scope<F: Future>(id: Uuid, request: F) -> (F::Output, Option<AccountId>) {
    let current = Current {
        id,
        account: Cell::new(None),
    };
    CURRENT
        .scope(current, async move {
            let output = request.await;
            let account = CURRENT.try_with(|c| c.account.get()).ok().flatten();
            (output, account)
        })
        .await
}

/// The id of the request being served, inside a scope.
pub fn id() -> Option<Uuid> {
    CURRENT.try_with(|c| c.id).ok()
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
        let id = Uuid::new_v4();
        let account = AccountId::from_uuid(Uuid::new_v4());
        let (seen, noted) = scope(id, async {
            note_account(account);
            super::id()
        })
        .await;
        assert_eq!((seen, noted), (Some(id), Some(account)));
        assert_eq!(super::id(), None, "outside a scope");
        note_account(account); // does nothing, does not panic
    }
}
