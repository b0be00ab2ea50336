//! Node test peers: the MCP TypeScript SDK (`@modelcontextprotocol/sdk`), installed
//! with npm into `target/test-tools/mcp-sdk` the first time a test asks for it, under an
//! exclusive lock on `target/test-tools/mcp-sdk.lock` (several test binaries may ask at
//! once), and reused after. Its own folder: other npm tools keep theirs. The
//! folder counts as made only once its stamp holds the exact `package.json` it was
//! installed from. A test that needs it fails, naming what to install, when it cannot
//! be installed: it never passes unrun.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Exact versions: a peer that changes under the test is a different test.
/// (`@modelcontextprotocol/conformance` is not here: every published version, up to
/// 0.2.0-alpha.12, needs Node >= 22 (`fs.globSync`), and its auth scenarios test
/// clients, not protected resources.)
const PACKAGE_JSON: &str = r#"{
  "name": "cognigate-test-mcp-sdk",
  "private": true,
  "type": "module",
  "dependencies": {
    "@modelcontextprotocol/sdk": "1.32.2"
  }
}
"#;

/// The npm folder, with `script` (a test peer's source) written into it as `name`, so
/// that its imports resolve against the folder's `node_modules`.
pub(crate) fn script(name: &str, source: &str) -> PathBuf {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dir = match DIR.get_or_init(ensure_npm) {
        Ok(dir) => dir,
        Err(why) => panic!("{why}"),
    };
    let path = dir.join(name);
    fs::write(&path, source).unwrap();
    path
}

fn tools_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .map_or_else(|| PathBuf::from("target"), Path::to_owned)
        .join("test-tools")
}

fn ensure_npm() -> Result<PathBuf, String> {
    let tools = tools_dir();
    fs::create_dir_all(&tools).map_err(|e| format!("cannot create {}: {e}", tools.display()))?;
    let lock = File::create(tools.join("mcp-sdk.lock")).map_err(|e| e.to_string())?;
    lock.lock()
        .map_err(|e| format!("cannot lock {}: {e}", tools.display()))?;
    let dir = tools.join("mcp-sdk");
    let stamp = dir.join("cognigate-package.json");
    if fs::read_to_string(&stamp).is_ok_and(|s| s == PACKAGE_JSON) {
        return Ok(dir);
    }
    eprintln!(
        "test tools: installing the MCP SDK into {} (once; npm)",
        dir.display()
    );
    if dir.exists() {
        fs::remove_dir_all(&dir).map_err(|e| format!("cannot remove {}: {e}", dir.display()))?;
    }
    fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    fs::write(dir.join("package.json"), PACKAGE_JSON).map_err(|e| e.to_string())?;
    let out = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(&dir)
        .output()
        .map_err(|e| {
            format!(
                "the MCP tests need Node.js >= 18 with npm, and npm cannot be run ({e}): \
                 install Node.js (Debian/Ubuntu: apt-get install nodejs npm)"
            )
        })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("");
        return Err(format!(
            "npm install of @modelcontextprotocol/sdk into {} failed (the first run needs \
             the npm registry): {last}",
            dir.display()
        ));
    }
    let partial = dir.join("stamp.partial");
    fs::write(&partial, PACKAGE_JSON).map_err(|e| e.to_string())?;
    fs::rename(&partial, &stamp).map_err(|e| e.to_string())?;
    Ok(dir)
}
