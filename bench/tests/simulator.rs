//! The simulator over plain HTTP: ListUsers pagination and the Throttling error.

use std::net::SocketAddr;

use keyaudit_bench::sim::{Action, RateLimit, SimConfig, Simulator};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One `POST /` with a form body on a fresh connection; returns (status, body).
async fn post(addr: SocketAddr, form: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{form}",
        form.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response.split(' ').nth(1).unwrap().parse().unwrap();
    let body = response.split_once("\r\n\r\n").unwrap().1.to_string();
    (status, body)
}

fn element<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let start = xml.find(&format!("<{name}>"))? + name.len() + 2;
    let end = start + xml[start..].find(&format!("</{name}>"))?;
    Some(&xml[start..end])
}

#[tokio::test]
async fn list_users_pages_and_throttling() {
    let config = SimConfig { users: 2500, ..SimConfig::default() };
    let sim = Simulator::start(&config).await.unwrap();

    let mut marker: Option<String> = None;
    let mut pages = Vec::new();
    loop {
        let mut form = "Action=ListUsers&Version=2010-05-08&MaxItems=1000".to_string();
        if let Some(marker) = &marker {
            form.push_str(&format!("&Marker={marker}"));
        }
        let (status, body) = post(sim.addr(), &form).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.starts_with(
            r#"<ListUsersResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><ListUsersResult><Users><member>"#
        ));
        pages.push(body.matches("<member>").count());
        match element(&body, "IsTruncated").unwrap() {
            "true" => marker = Some(element(&body, "Marker").unwrap().to_string()),
            "false" => {
                assert!(element(&body, "Marker").is_none());
                break;
            }
            other => panic!("IsTruncated {other}"),
        }
    }
    assert_eq!(pages, [1000, 1000, 500]);
    let (status, body) = post(sim.addr(), "Action=GetAccountSummary&Version=2010-05-08").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<entry><key>AccountAccessKeysPresent</key><value>0</value></entry>"), "{body}");
    let stats = sim.stats();
    assert_eq!((stats.requests, stats.action(Action::ListUsers), stats.throttled), (4, 3, 0));

    // A bucket of 2 tokens that refills once in ~17 minutes: the third request is throttled.
    let limited = SimConfig { users: 3, rate_limit: Some(RateLimit { rate: 0.001, burst: 2.0 }), ..config };
    let sim = Simulator::start(&limited).await.unwrap();
    for _ in 0..2 {
        let (status, body) =
            post(sim.addr(), "Action=ListAccessKeys&Version=2010-05-08&UserName=user-000000").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body.matches("<AccessKeyId>AKIA").count(), 2);
    }
    let (status, body) = post(sim.addr(), "Action=GetAccountSummary&Version=2010-05-08").await;
    assert_eq!(status, 400);
    assert!(body.starts_with(r#"<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>"#), "{body}");
    // STS has its own quota: the account's empty IAM bucket does not throttle it.
    let (status, body) = post(sim.addr(), "Action=GetCallerIdentity&Version=2011-06-15").await;
    assert_eq!(status, 200, "{body}");
    let stats = sim.stats();
    assert_eq!((stats.requests, stats.throttled), (4, 1));
    assert_eq!(stats.action_throttled(Action::GetAccountSummary), 1);
}
