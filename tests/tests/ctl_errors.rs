//! vlcpctl's bad-input paths against a running management API: usage mistakes exit 2 before any
//! request, server refusals exit 1 with the server's own message (and change nothing), and
//! transport failures exit 1 with a clear cause.

mod ctl_common;
mod web_common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;

use ctl_common::{vlcpctl, vlcpctl_bin, vlcpctl_raw};
use web_common::Api;

#[test]
fn usage_errors_exit_2_and_send_nothing() {
    let api = Api::embedded();
    let url = api.base();
    let before = api.scan();
    let cases: &[(&[&str], &str)] = &[
        (
            &["port", "list"],
            "unknown object \"port\" (one of physicalnetwork, physicalport, logicalnetwork, subnet, logicalport, router, routerinterface)",
        ),
        (&["subnet"], "missing verb after subnet"),
        (&["subnet", "destroy", "id=s"], "unknown verb \"destroy\""),
        (
            &["routerinterface", "update", "router=r", "subnet=s"],
            "routerinterface cannot be updated; delete it and create it again",
        ),
        (&["routerinterface", "show", "router=r"], "routerinterface show: missing subnet=<value>"),
        (&["logicalport", "show"], "logicalport show: missing id=<value>"),
        (&["logicalport", "create", "logicalnetwork"], "expected key=value, found \"logicalnetwork\""),
        (&["logicalport", "create", "id=a", "id=b"], "parameter id is given twice"),
        (&["--yaml", "subnet", "list"], "unknown option \"--yaml\""),
        (&[], "missing <object>"),
    ];
    for (args, message) in cases {
        let err = vlcpctl(&url, args).fails(2);
        assert!(err.starts_with(&format!("vlcpctl: {message}")), "{args:?}: {err}");
        assert!(err.ends_with("Try 'vlcpctl --help'.\n"), "{err}");
    }
    let err = vlcpctl_raw(&["--url", "https://127.0.0.1:1", "subnet", "list"]).fails(2);
    assert!(err.contains("https is not supported"), "{err}");
    assert_eq!(api.scan(), before, "no request reached the store");
}

#[test]
fn server_refusals_exit_1_with_the_servers_message_and_change_nothing() {
    let api = Api::embedded();
    let url = api.base();
    let ctl = |args: &[&str]| vlcpctl(&url, args);
    ctl(&["physicalnetwork", "create", "id=vx", "type=vxlan", "vnirange=`[[10000,20000]]`"]).ok();
    ctl(&["logicalnetwork", "create", "id=na", "physicalnetwork=vx"]).ok();
    let before = api.scan();
    let cases: &[(&[&str], &str)] = &[
        // A required field missing: the server names it.
        (&["logicalport", "create", "id=lp1"], "logicalnetwork: is required"),
        (&["subnet", "create", "id=s1", "logicalnetwork=na"], "cidr: is required"),
        // References to nothing, duplicates, objects in use.
        (
            &["logicalport", "create", "id=lp1", "logicalnetwork=nope"],
            "logicalnetwork: logical network \"nope\" does not exist",
        ),
        (
            &["physicalnetwork", "create", "id=vx", "type=vxlan", "vnirange=`[[30000,30010]]`"],
            "already exists",
        ),
        (&["physicalnetwork", "delete", "vx"], "still has 1 logical network"),
        (&["logicalnetwork", "delete", "missing"], "\"missing\" does not exist"),
        // Bad values: a malformed literal, a bad address.
        (
            &["physicalnetwork", "create", "id=p2", "type=vxlan", "vnirange=`[[1,`"],
            "vnirange: malformed literal",
        ),
        (&["subnet", "create", "id=s1", "logicalnetwork=na", "cidr=198.18.1.0/33"], "cidr: prefix length"),
    ];
    for (args, needle) in cases {
        let err = ctl(args).fails(1);
        let status = err.trim_end().rsplit_once("(HTTP ").map(|(_, s)| s.trim_end_matches(')').to_string());
        let status: u16 =
            status.and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{args:?}: no status: {err}"));
        assert!((400..500).contains(&status), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {needle:?} not in {err}");
    }
    let (status, body) = api.curl(&["-d", "id=lp1"], "/viperflow/createlogicalport");
    let err = ctl(&["logicalport", "create", "id=lp1"]).fails(1);
    assert_eq!(err, format!("vlcpctl: {} (HTTP {status})\n", body["error"].as_str().unwrap()));
    assert_eq!(api.scan(), before, "refused calls changed the store");
}

#[test]
fn transport_failures_exit_1_with_the_cause() {
    // Nothing listening.
    let port = vlcp_e2e::lab::free_port().expect("free port");
    let err = vlcpctl(&format!("http://127.0.0.1:{port}"), &["subnet", "list"]).fails(1);
    assert!(err.starts_with(&format!("vlcpctl: cannot connect to 127.0.0.1:{port}: ")), "{err}");

    // Something that is not the API: answers HTML.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf);
        let body = "<html>hello</html>";
        let _ = write!(s, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: {}\r\n\r\n{body}", body.len());
    });
    let err = vlcpctl(&format!("http://{addr}"), &["subnet", "list"]).fails(1);
    assert_eq!(err, "vlcpctl: unexpected reply (HTTP 502): not JSON: \"<html>hello</html>\"\n");
    server.join().unwrap();
}

#[test]
fn token_from_option_or_environment() {
    let dir = tempfile::tempdir().unwrap();
    let store: std::sync::Arc<dyn vlcp::objectdb::KvStore> = std::sync::Arc::new(
        vlcp::objectdb::embedded::EmbeddedStore::open(dir.path().join("db.redb")).unwrap(),
    );
    let api = Api::on(store, Some("s3cret"));
    let url = api.base();
    let err = vlcpctl(&url, &["router", "list"]).fails(1);
    assert!(err.contains("(HTTP 401)") && err.contains("token"), "{err}");
    let err = vlcpctl(&url, &["--token", "wrong", "router", "list"]).fails(1);
    assert!(err.contains("(HTTP 401)"), "{err}");
    vlcpctl(&url, &["--token", "s3cret", "router", "create", "id=r1"]).ok();
    let out = Command::new(vlcpctl_bin())
        .args(["--json", "router", "list"])
        .env("VLCP_URL", &url)
        .env("VLCP_TOKEN", "s3cret")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["id"], "r1");
}

#[test]
fn help_and_version() {
    let out = vlcpctl_raw(&["--help"]).ok();
    assert!(out.starts_with("Usage: vlcpctl"), "{out}");
    for o in ["physicalnetwork", "physicalport", "logicalnetwork", "subnet", "logicalport", "routerinterface"]
    {
        assert!(out.contains(o), "{o} missing from help");
    }
    assert_eq!(vlcpctl_raw(&["--version"]).ok(), format!("vlcpctl {}\n", env!("CARGO_PKG_VERSION")));
}
