//! The `meshgate` binary against the Python reference gateway: registration
//! and per-peer token storage, send/inbox/read/threads, exit codes. The
//! scenarios live in scenarios/cli.rs and run against meshgate too
//! (meshgate_cli.rs).

mod common;
#[path = "scenarios/cli.rs"]
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
    against_reference!(register_and_token_storage, messaging, live_commands);
}
