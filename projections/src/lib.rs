//! pinauth projections (to come).
