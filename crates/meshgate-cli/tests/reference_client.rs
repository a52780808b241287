//! The library (`meshgate_client::Client`) against the Python reference
//! gateway. The scenarios live in scenarios/client.rs and run against
//! meshgate too (meshgate_client.rs).

mod common;
#[path = "scenarios/client.rs"]
mod scenarios;

macro_rules! against_reference {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $name() {
            let Some(gw) = crate::common::reference_gateway().await else { return };
            crate::scenarios::$name(&gw).await;
        }
    )*};
}

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
