//! Faults the simulator can inject, to test that keyaudit never turns a broken answer into a
//! gap: HTTP 5xx, dropped connections, cut-off bodies, empty results, missing elements,
//! impossible pagination and answers that never come.
//!
//! Faults are deterministic: whether a request is hit depends only on its serial number
//! (a share is drawn from it), on the fault's filter and on how many times the fault has hit
//! before (a transient fault hits its first `times` eligible requests, then never again). A
//! fault hits only answers it can change: a marker fault only pages that carry a marker, a
//! body fault only successful answers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};

use crate::sim::Action;

/// One fault to inject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// The action whose requests it hits.
    pub action: Action,
    pub kind: FaultKind,
    /// Only requests whose form has this parameter with this value (e.g. `UserName`).
    pub only: Option<(String, String)>,
    /// Percent of the eligible requests hit, drawn from the request serial (100: all).
    pub percent: u8,
    /// `Some(n)`: transient, the first `n` hits only; `None`: permanent.
    pub times: Option<u64>,
}

impl Fault {
    /// Every eligible request of `action`, for good.
    pub fn permanent(action: Action, kind: FaultKind) -> Fault {
        Fault { action, kind, only: None, percent: 100, times: None }
    }

    /// The first `times` eligible requests of `action`, then never again.
    pub fn transient(action: Action, kind: FaultKind, times: u64) -> Fault {
        Fault { times: Some(times), ..Fault::permanent(action, kind) }
    }

    /// Only requests with form parameter `name` = `value`.
    pub fn only(mut self, name: &str, value: &str) -> Fault {
        self.only = Some((name.to_string(), value.to_string()));
        self
    }

    /// Only this share of the eligible requests.
    pub fn percent(mut self, percent: u8) -> Fault {
        self.percent = percent.min(100);
        self
    }
}

/// What a fault does to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// Answer with this HTTP status: 500 (`ServiceFailure`) or 503 (`ServiceUnavailable`).
    Status(u16),
    /// Close the connection without an answer.
    Reset,
    /// Cut a successful body short: after its first `</member>`, else in the middle.
    Truncate,
    /// A successful answer whose `<ActionResult>` element is empty.
    EmptyResult,
    /// A successful answer without this element (e.g. `AccessKeyLastUsed`).
    MissingElement(&'static str),
    /// A truncated page without its `<Marker>`.
    TruncatedWithoutMarker,
    /// A page asked for with a marker gives that marker again (and says it is truncated).
    RepeatMarker,
    /// A later page points back to the first marker the listing gave: pages 2, 3, 2, 3...
    CycleMarker,
    /// A page asked for with a marker starts with the last user of the page before.
    DuplicateUsers,
    /// Never answer.
    Hang,
}

/// A response the simulator must not send: the connection is closed instead (see
/// [`deliver`]).
#[derive(Debug, Clone, Copy)]
struct Dropped;

/// Why the connection was closed; the error hyper sees from the service.
#[derive(Debug, thiserror::Error)]
#[error("fault injected: connection dropped")]
pub struct ConnectionDropped;

/// Turns a response marked [`Dropped`] into a service error: hyper then closes the
/// connection without answering, as a reset would.
pub fn deliver(response: Response<Full<Bytes>>) -> Result<Response<Full<Bytes>>, ConnectionDropped> {
    match response.extensions().get::<Dropped>() {
        Some(Dropped) => Err(ConnectionDropped),
        None => Ok(response),
    }
}

/// The faults of one simulator, with their hit counters and what marker faults remember.
#[derive(Debug, Default)]
pub struct Injector {
    faults: Vec<Fault>,
    hits: Vec<AtomicU64>,
    pages: Mutex<Pages>,
}

/// What the listing gave so far: its first marker, and the last user of the page that gave
/// each marker.
#[derive(Debug, Default)]
struct Pages {
    first_marker: Option<String>,
    last_member: HashMap<String, String>,
}

/// What happens instead of the simulator's answer.
#[derive(Debug)]
pub enum Injected {
    Status(u16),
    Reset,
}

impl Injector {
    pub fn new(faults: &[Fault]) -> Injector {
        Injector {
            faults: faults.to_vec(),
            hits: faults.iter().map(|_| AtomicU64::new(0)).collect(),
            pages: Mutex::new(Pages::default()),
        }
    }

    /// Applies the faults that hit this request to the simulator's answer `result` (the XML
    /// of a successful answer, or an error passed through). `Err`: answer with that instead.
    pub async fn inject<E>(
        &self,
        serial: u64,
        action: Action,
        form: &HashMap<String, String>,
        result: Result<String, E>,
    ) -> Result<Result<String, E>, Injected> {
        let Ok(mut xml) = result else { return Ok(result) };
        if self.faults.is_empty() {
            return Ok(Ok(xml));
        }
        let marker = form.get("Marker").map(String::as_str);
        for (index, fault) in self.faults.iter().enumerate() {
            if fault.action != action
                || fault.only.as_ref().is_some_and(|(name, value)| form.get(name) != Some(value))
                || !drawn(serial, index, fault.percent)
            {
                continue;
            }
            let changed = match fault.kind {
                FaultKind::Status(_) | FaultKind::Reset | FaultKind::Hang => Some(xml.clone()),
                FaultKind::Truncate => Some(truncate(&xml)),
                FaultKind::EmptyResult => empty_result(&xml, action),
                FaultKind::MissingElement(name) => remove_element(&xml, name),
                FaultKind::TruncatedWithoutMarker => remove_element(&xml, "Marker"),
                FaultKind::RepeatMarker => marker.and_then(|marker| point_to(&xml, marker)),
                FaultKind::CycleMarker => {
                    let first = self.lock().first_marker.clone();
                    match (marker, first) {
                        (Some(marker), Some(first)) if marker != first => point_to(&xml, &first),
                        _ => None,
                    }
                }
                FaultKind::DuplicateUsers => {
                    let last = marker.and_then(|marker| self.lock().last_member.get(marker).cloned());
                    last.and_then(|member| prepend_member(&xml, &member))
                }
            };
            let Some(changed) = changed else { continue };
            if !self.take_hit(index, fault.times) {
                continue;
            }
            match fault.kind {
                FaultKind::Status(status) => return Err(Injected::Status(status)),
                FaultKind::Reset => return Err(Injected::Reset),
                FaultKind::Hang => std::future::pending::<()>().await,
                _ => xml = changed,
            }
        }
        if action == Action::ListUsers {
            self.remember_page(&xml);
        }
        Ok(Ok(xml))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pages> {
        self.pages.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Counts a hit; `false` once a transient fault has used up its hits.
    fn take_hit(&self, index: usize, times: Option<u64>) -> bool {
        let hits = &self.hits[index];
        match times {
            None => {
                hits.fetch_add(1, Ordering::Relaxed);
                true
            }
            Some(times) => hits
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| (n < times).then_some(n + 1))
                .is_ok(),
        }
    }

    fn remember_page(&self, xml: &str) {
        let Some(marker) = element_text(xml, "Marker") else { return };
        let last = xml.rfind("<member>").and_then(|start| {
            let end = xml[start..].find("</member>")? + start + "</member>".len();
            Some(xml[start..end].to_string())
        });
        let mut pages = self.lock();
        pages.first_marker.get_or_insert_with(|| marker.to_string());
        if let Some(last) = last {
            pages.last_member.insert(marker.to_string(), last);
        }
    }

    /// How many times each fault has hit, in configuration order.
    pub fn hits(&self) -> Vec<u64> {
        self.hits.iter().map(|hits| hits.load(Ordering::Relaxed)).collect()
    }
}

impl Injected {
    /// IAM's error document for a status fault; a reset closes the connection instead.
    pub fn into_response(
        self,
        error: impl Fn(StatusCode, &str, &str) -> Response<Full<Bytes>>,
    ) -> Response<Full<Bytes>> {
        match self {
            Injected::Status(status) => {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let (code, message) = match status {
                    StatusCode::SERVICE_UNAVAILABLE => ("ServiceUnavailable", "Service unavailable"),
                    _ => ("ServiceFailure", "The request processing has failed because of an unknown error"),
                };
                error(status, code, message)
            }
            Injected::Reset => {
                let mut response = Response::new(Full::new(Bytes::new()));
                response.extensions_mut().insert(Dropped);
                response
            }
        }
    }
}

/// Whether the request with `serial` is among the `percent` hit by fault `index`.
fn drawn(serial: u64, index: usize, percent: u8) -> bool {
    percent >= 100 || splitmix64(serial ^ (index as u64).rotate_left(32)) % 100 < u64::from(percent)
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn truncate(xml: &str) -> String {
    match xml.find("</member>") {
        Some(at) => xml[..at + "</member>".len()].to_string(),
        None => xml[..xml.len() / 2].to_string(),
    }
}

fn empty_result(xml: &str, action: Action) -> Option<String> {
    let open = format!("<{}Result>", action.name());
    let close = format!("</{}Result>", action.name());
    let start = xml.find(&open)? + open.len();
    let end = xml.find(&close)?;
    (start < end).then(|| format!("{}{}", &xml[..start], &xml[end..]))
}

/// `xml` without its first `<name>...</name>` (or `<name/>`); `None` if it has none.
fn remove_element(xml: &str, name: &str) -> Option<String> {
    let empty = format!("<{name}/>");
    if let Some(start) = xml.find(&empty) {
        return Some(format!("{}{}", &xml[..start], &xml[start + empty.len()..]));
    }
    let start = xml.find(&format!("<{name}>"))?;
    let close = format!("</{name}>");
    let end = start + xml[start..].find(&close)? + close.len();
    Some(format!("{}{}", &xml[..start], &xml[end..]))
}

/// A truncated page whose next marker is `marker`, if `xml` is a page (has `IsTruncated`).
fn point_to(xml: &str, marker: &str) -> Option<String> {
    let without = remove_element(xml, "Marker").unwrap_or_else(|| xml.to_string());
    let flag = ["<IsTruncated>false</IsTruncated>", "<IsTruncated>true</IsTruncated>"]
        .into_iter()
        .find(|flag| without.contains(flag))?;
    Some(without.replacen(flag, &format!("<IsTruncated>true</IsTruncated><Marker>{marker}</Marker>"), 1))
}

fn prepend_member(xml: &str, member: &str) -> Option<String> {
    let at = xml.find("<Users>")? + "<Users>".len();
    Some(format!("{}{member}{}", &xml[..at], &xml[at..]))
}

fn element_text<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{name}>"))?;
    Some(&xml[start..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = "<ListUsersResponse><ListUsersResult><Users><member><UserName>a</UserName></member>\
                        <member><UserName>b</UserName></member></Users><IsTruncated>true</IsTruncated>\
                        <Marker>m2</Marker></ListUsersResult></ListUsersResponse>";

    fn form(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    async fn answer(injector: &Injector, serial: u64, marker: Option<&str>) -> Result<String, Injected> {
        let form = form(&marker.map(|m| vec![("Marker", m)]).unwrap_or_default());
        injector
            .inject::<()>(serial, Action::ListUsers, &form, Ok(PAGE.to_string()))
            .await
            .map(|r| r.unwrap())
    }

    #[tokio::test]
    async fn transient_faults_hit_their_first_occurrences_only() {
        let injector = Injector::new(&[Fault::transient(Action::ListUsers, FaultKind::Status(503), 2)]);
        for serial in 0..2 {
            assert!(matches!(answer(&injector, serial, None).await, Err(Injected::Status(503))));
        }
        assert_eq!(answer(&injector, 2, None).await.unwrap(), PAGE);
        assert_eq!(injector.hits(), [2]);
    }

    #[tokio::test]
    async fn a_share_is_drawn_from_the_serial_alone() {
        let faults = [Fault::permanent(Action::ListUsers, FaultKind::Reset).percent(30)];
        let (one, two) = (Injector::new(&faults), Injector::new(&faults));
        let mut hit = 0;
        for serial in 0..1000 {
            let first = answer(&one, serial, None).await.is_err();
            assert_eq!(first, answer(&two, serial, None).await.is_err(), "serial {serial}");
            hit += u32::from(first);
        }
        assert!((250..350).contains(&hit), "{hit} of 1000");
    }

    #[tokio::test]
    async fn body_faults_rewrite_the_answer() {
        let only = |kind| Injector::new(&[Fault::permanent(Action::ListUsers, kind)]);
        let cut = answer(&only(FaultKind::Truncate), 0, None).await.unwrap();
        assert!(cut.ends_with("<UserName>a</UserName></member>"), "{cut}");
        let empty = answer(&only(FaultKind::EmptyResult), 0, None).await.unwrap();
        assert_eq!(empty, "<ListUsersResponse><ListUsersResult></ListUsersResult></ListUsersResponse>");
        let no_marker = answer(&only(FaultKind::TruncatedWithoutMarker), 0, None).await.unwrap();
        assert!(no_marker.contains("<IsTruncated>true</IsTruncated></ListUsersResult>"), "{no_marker}");
        let repeat = answer(&only(FaultKind::RepeatMarker), 0, Some("m7")).await.unwrap();
        assert!(repeat.contains("<Marker>m7</Marker>"), "{repeat}");
        assert_eq!(
            answer(&only(FaultKind::RepeatMarker), 0, None).await.unwrap(),
            PAGE,
            "a first page has no marker to repeat"
        );
    }

    #[tokio::test]
    async fn marker_faults_point_back_to_earlier_pages() {
        let cycle = Injector::new(&[Fault::permanent(Action::ListUsers, FaultKind::CycleMarker)]);
        assert_eq!(answer(&cycle, 0, None).await.unwrap(), PAGE, "the first page gives m2");
        assert_eq!(answer(&cycle, 1, Some("m2")).await.unwrap(), PAGE, "the page after it goes on");
        let back = answer(&cycle, 2, Some("m5")).await.unwrap();
        assert!(back.contains("<Marker>m2</Marker>"), "{back}");

        let duplicate = Injector::new(&[Fault::permanent(Action::ListUsers, FaultKind::DuplicateUsers)]);
        answer(&duplicate, 0, None).await.unwrap();
        let next = answer(&duplicate, 1, Some("m2")).await.unwrap();
        assert!(next.contains("<Users><member><UserName>b</UserName></member><member><UserName>a"), "{next}");
    }
}
