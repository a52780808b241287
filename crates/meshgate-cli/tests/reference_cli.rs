//! The `meshgate` binary against the Python reference gateway: registration
//! and per-peer token storage, send/inbox/read/threads, exit codes. The
//! scenarios live in scenarios/cli.rs and run against meshgate too
//! (meshgate_cli.rs).

use crate::scenarios::cli as scenarios;

mod reference {
    against_reference!(register_and_token_storage, messaging, live_commands);
}
