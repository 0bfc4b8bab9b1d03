use crate::conformance::Fixture;
use pinauth_store::memory::MemoryStore;
use std::sync::Arc;

async fn fixture() -> Fixture {
    Fixture {
        store: Arc::new(MemoryStore::new()),
        _keep: Box::new(()),
    }
}

conformance_suite!(fixture);
