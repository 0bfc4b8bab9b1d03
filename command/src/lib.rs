//! pinauth command (to come).
