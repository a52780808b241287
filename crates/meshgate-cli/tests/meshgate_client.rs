//! The library (`meshgate_client::Client`) against `meshgate serve` (a child
//! process of this crate's binary): the scenarios of scenarios/client.rs,
//! which also run against the Python reference (reference_client.rs).

use crate::scenarios::client as scenarios;

mod meshgate {
    against_meshgate!(
        round_trip,
        auth_is_not_unreachable,
        own_inbox_is_filled_despite_own_rows,
        late_registration_is_seen_at_once,
        refusals_never_reach_the_gateway,
        live_delivery,
    );
}
