//! The library (`meshgate_client::Client`) against the Python reference
//! gateway. The scenarios live in scenarios/client.rs and run against
//! meshgate too (meshgate_client.rs).

use crate::scenarios::client as scenarios;

mod reference {
    against_reference!(
        round_trip,
        auth_is_not_unreachable,
        own_inbox_is_filled_despite_own_rows,
        late_registration_is_seen_at_once,
        refusals_never_reach_the_gateway,
        live_delivery,
    );
}
