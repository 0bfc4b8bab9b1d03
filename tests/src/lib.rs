//! pinauth tests (to come).
