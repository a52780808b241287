//! `meshgate hooks install|uninstall` on real settings files: the merge into
//! an existing file with other hooks and settings (idempotent, backup, mode,
//! symlink, malformed files refused), Codex and Gemini CLI, `--project` and
//! `--mcp`, and uninstall giving back exactly the file it started from.

use crate::common;
use crate::hooks_common;

use common::meshgate_gateway;
#[cfg(unix)]
use hooks_common::mode;
use hooks_common::{backups, Desk};
use serde_json::{json, Value};

const EXISTING: &str = r#"{
  "model": "opus",
  "permissions": {
    "allow": [
      "Bash(git status)"
    ]
  },
  "hooks": {
    "Stop": [
      {
        "hooks": [
          {
            "type": "command",
            "command": "notify-send done"
          }
        ]
      }
    ],
    "PreToolUse": [
      {
        "matcher": "Bash",
        "hooks": [
          {
            "type": "command",
            "command": "audit-bash"
          }
        ]
      }
    ]
  },
  "zz_last": true
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_merges_into_an_existing_file_idempotently_and_uninstall_restores_it() {
    let gw = meshgate_gateway().await;
    let desk = Desk::new(&gw).await;
    std::fs::write(&desk.settings, EXISTING).unwrap();
    #[cfg(unix)]
    std::fs::set_permissions(&desk.settings, std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();

    let (code, out, err) = desk.install("claude-code", "bob", &[]).await;
    assert_eq!(code, 0, "{out}{err}");
    let text = std::fs::read_to_string(&desk.settings).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["model"], "opus");
    assert_eq!(doc["permissions"]["allow"][0], "Bash(git status)");
    assert_eq!(doc["zz_last"], true);
    assert_eq!(doc["hooks"]["PreToolUse"][0]["hooks"][0]["command"], "audit-bash");
    let stop = doc["hooks"]["Stop"].as_array().unwrap();
    assert_eq!(stop[0]["hooks"][0]["command"], "notify-send done", "the user's Stop hook stays first");
    let wake = &stop[1]["hooks"][0];
    assert_eq!((wake["async"].clone(), wake["asyncRewake"].clone()), (json!(true), json!(true)));
    assert!(desk.command("Stop").contains("hooks run wake --as bob --gateway "), "{text}");
    assert!(desk.command("SessionStart").contains("hooks run context --as bob"), "{text}");
    assert!(desk.command("UserPromptSubmit").contains("hooks run context --as bob"), "{text}");
    let bob_token = std::fs::read_to_string(
        desk.config.join("tokens").join(gw.url.trim_start_matches("http://").replace(':', "-")).join("bob"),
    )
    .unwrap();
    assert!(!text.contains(bob_token.trim()) && !text.contains(&gw.token), "no token in the settings file");
    #[cfg(unix)]
    assert_eq!(mode(&desk.settings), 0o640, "mode kept");
    let saved = backups(&desk.settings);
    assert_eq!(saved.len(), 1, "{out}");
    assert_eq!(std::fs::read_to_string(&saved[0]).unwrap(), EXISTING, "the backup is the old file");

    let (code, out, _) = desk.install("claude-code", "bob", &[]).await;
    assert_eq!(code, 0);
    assert!(out.contains("nothing changed"), "{out}");
    assert_eq!(std::fs::read_to_string(&desk.settings).unwrap(), text, "installing twice changes nothing");
    assert_eq!(backups(&desk.settings).len(), 1, "no backup when nothing changes");

    let (code, out, err) = desk
        .cli(&["hooks", "uninstall", "claude-code", "--settings", &desk.settings.display().to_string()], false)
        .await;
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(std::fs::read_to_string(&desk.settings).unwrap(), EXISTING, "uninstall restores the file exactly");
    #[cfg(unix)]
    assert_eq!(mode(&desk.settings), 0o640);
    let (code, out, _) = desk
        .cli(&["hooks", "uninstall", "claude-code", "--settings", &desk.settings.display().to_string()], false)
        .await;
    assert_eq!(code, 0);
    assert!(out.contains("nothing changed"), "{out}");

    // A symlinked settings file is written through to its target.
    #[cfg(unix)]
    {
        let target = gw.dir.path().join("dotfiles-settings.json");
        std::fs::write(&target, EXISTING).unwrap();
        std::fs::remove_file(&desk.settings).unwrap();
        std::os::unix::fs::symlink(&target, &desk.settings).unwrap();
        let (code, out, err) = desk.install("claude-code", "bob", &[]).await;
        assert_eq!(code, 0, "{out}{err}");
        assert!(std::fs::symlink_metadata(&desk.settings).unwrap().file_type().is_symlink(), "still a link");
        assert!(std::fs::read_to_string(&target).unwrap().contains("hooks run wake"));
        std::fs::remove_file(&desk.settings).unwrap();
    }

    // Credentials in the gateway URL would land in the file: refused.
    let before = std::fs::read_to_string(&desk.settings).ok();
    let (code, _, err) = desk.install("claude-code", "bob", &["--gateway", "http://bob:s3cret@127.0.0.1:1"]).await;
    assert_ne!(code, 0);
    assert!(err.contains("carries credentials") && !err.contains("s3cret"), "{err}");
    assert!(!err.contains("meshgate --help"), "the error says what to do: {err}");
    assert_eq!(std::fs::read_to_string(&desk.settings).ok(), before);

    // A malformed file is refused and left alone, without a backup.
    let broken = "{\n  \"model\": \"opus\",\n  \"hooks\": {\n";
    std::fs::write(&desk.settings, broken).unwrap();
    let before = backups(&desk.settings).len();
    let (code, _, err) = desk.install("claude-code", "bob", &[]).await;
    assert_ne!(code, 0);
    assert!(err.contains("not valid JSON (line") && err.contains("nothing was changed"), "{err}");
    assert!(!err.contains("meshgate --help"), "the error says what to do: {err}");
    assert_eq!(std::fs::read_to_string(&desk.settings).unwrap(), broken);
    assert_eq!(backups(&desk.settings).len(), before);
    std::fs::write(&desk.settings, r#"{"hooks": []}"#).unwrap();
    let (code, _, err) = desk.install("claude-code", "bob", &[]).await;
    assert_ne!(code, 0);
    assert!(err.contains("\"hooks\"") && err.contains("not an object"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_and_gemini_get_context_hooks_in_their_own_files() {
    let gw = meshgate_gateway().await;
    let desk = Desk::new(&gw).await;
    let home = gw.dir.path();
    for (host, file, events, timeout) in [
        ("codex", ".codex/hooks.json", ["SessionStart", "UserPromptSubmit"], 15),
        ("gemini", ".gemini/settings.json", ["SessionStart", "BeforeAgent"], 15_000),
    ] {
        let (code, out, err) = desk.cli(&["hooks", "install", host, "--as", "bob", "--mcp"], false).await;
        assert_eq!(code, 0, "{out}{err}");
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(home.join(file)).unwrap()).unwrap();
        let hooks = doc["hooks"].as_object().unwrap();
        assert_eq!(hooks.len(), 2, "{doc}");
        if host == "gemini" {
            let mcp = &doc["mcpServers"]["meshgate"];
            assert_eq!(mcp["args"], json!(["mcp", "--as", "bob", "--gateway", gw.url]), "{doc}");
            assert!(mcp["command"].as_str().unwrap().ends_with("/meshgate"), "{doc}");
        } else {
            assert!(doc.get("mcpServers").is_none());
            assert!(
                out.contains("[mcp_servers.meshgate]\ncommand = \"")
                    && out.contains("args = [\"mcp\", \"--as\", \"bob\""),
                "{out}"
            );
        }
        let (code, out, _) = desk.cli(&["hooks", "install", host, "--as", "bob", "--mcp"], false).await;
        assert_eq!(code, 0);
        assert!(out.contains("nothing changed"), "{out}");
        for event in events {
            let handler = &doc["hooks"][event][0]["hooks"][0];
            assert!(handler["command"].as_str().unwrap().contains("hooks run context --as bob"), "{doc}");
            assert_eq!(handler["timeout"], timeout, "{host}: {doc}");
            assert!(handler.get("async").is_none());
        }
        let (code, _, _) = desk.cli(&["hooks", "uninstall", host], false).await;
        assert_eq!(code, 0);
        assert_eq!(std::fs::read_to_string(home.join(file)).unwrap(), "{}\n");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn project_install_with_mcp_writes_the_projects_files_and_uninstall_clears_them() {
    let gw = meshgate_gateway().await;
    let desk = Desk::new(&gw).await;
    let project = gw.dir.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    let run = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_meshgate"))
            .args(args)
            .current_dir(&project)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", gw.dir.path())
            .env("MESHGATE_CONFIG_DIR", &desk.config)
            .env("MESH_GATEWAY_URL", &gw.url)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{args:?}: {text}");
        text
    };
    run(&["hooks", "install", "claude-code", "--as", "bob", "--project", "--mcp"]);
    let settings: Value =
        serde_json::from_str(&std::fs::read_to_string(project.join(".claude/settings.json")).unwrap()).unwrap();
    assert_eq!(settings["hooks"].as_object().unwrap().len(), 4, "{settings}");
    assert!(settings.get("mcpServers").is_none(), "Claude Code's MCP servers are not in settings.json");
    let mcp: Value = serde_json::from_str(&std::fs::read_to_string(project.join(".mcp.json")).unwrap()).unwrap();
    assert_eq!(mcp["mcpServers"]["meshgate"]["args"], json!(["mcp", "--as", "bob", "--gateway", gw.url]));
    let config = desk.config.display().to_string();
    assert_eq!(mcp["mcpServers"]["meshgate"]["env"], json!({"MESHGATE_CONFIG_DIR": config}), "the host's env");
    // Without --project the user scope is not ours to edit: the command is printed.
    let printed = run(&["hooks", "install", "claude-code", "--as", "bob", "--mcp"]);
    let config = format!("-e MESHGATE_CONFIG_DIR={}", desk.config.display());
    assert!(printed.contains(&format!("claude mcp add --scope user {config} meshgate -- ")), "{printed}");
    run(&["hooks", "uninstall", "claude-code", "--project"]);
    assert_eq!(std::fs::read_to_string(project.join(".claude/settings.json")).unwrap(), "{}\n");
    assert_eq!(std::fs::read_to_string(project.join(".mcp.json")).unwrap(), "{}\n");
}
