//! IAM's Marker/IsTruncated pagination, checked page by page.
//!
//! The SDK's paginators follow `Marker` until it is absent and stop silently when a page
//! repeats the marker it was asked with; they ignore `IsTruncated`. A page that says it is
//! truncated but gives no marker then ends the listing as if complete, and a marker that
//! cycles back to an earlier page never ends. keyaudit walks the pages itself and checks each
//! one against what pagination can be; anything else is an error (the scan is incomplete),
//! never a silent stop or an endless loop.

use std::collections::{HashMap, HashSet};

/// Pagination that cannot be right. The listing stops at the first one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaginationError {
    #[error("page {page} says IsTruncated but gives no Marker: the pages after it cannot be asked for")]
    TruncatedWithoutMarker { page: usize },
    #[error("page {page} gives a Marker but says it is not truncated")]
    MarkerWithoutTruncated { page: usize },
    #[error("page {page} gives the Marker page {first} gave: the listing loops")]
    MarkerRepeated { page: usize, first: usize },
    #[error("page {page} lists {count} already listed on an earlier page (first: {example})")]
    Duplicates { page: usize, count: usize, example: String },
    #[error("still truncated after {pages} pages, more than the account's {expected} could fill")]
    TooManyPages { pages: usize, expected: String },
}

impl PaginationError {
    /// The error row's code.
    pub fn code(&self) -> &'static str {
        match self {
            PaginationError::TruncatedWithoutMarker { .. }
            | PaginationError::MarkerWithoutTruncated { .. } => "MalformedResponse",
            PaginationError::MarkerRepeated { .. } => "PaginationLoop",
            PaginationError::Duplicates { .. } => "DuplicateItems",
            PaginationError::TooManyPages { .. } => "TooManyPages",
        }
    }
}

/// What a walk is told about one page.
pub struct Page<'a, T> {
    pub items: Vec<T>,
    pub is_truncated: bool,
    pub marker: Option<&'a str>,
}

/// Where a listing goes after a page: the items it added, and the marker to ask with next
/// (`Ok(None)`: done) or why it stops.
pub struct Step<T> {
    pub fresh: Vec<T>,
    pub next: Result<Option<String>, PaginationError>,
}

/// The state of one listing: markers followed, items seen, pages read.
#[derive(Debug)]
pub struct Walk {
    markers: HashMap<String, usize>,
    seen: HashSet<String>,
    pages: usize,
    max_pages: usize,
    /// For the error message: what `max_pages` was derived from.
    expected: String,
}

impl Walk {
    /// A walk that gives up after `max_pages` pages; `expected` says why that many (e.g.
    /// "1,234 users"), for the message.
    pub fn new(max_pages: usize, expected: impl Into<String>) -> Walk {
        Walk {
            markers: HashMap::new(),
            seen: HashSet::new(),
            pages: 0,
            max_pages: max_pages.max(1),
            expected: expected.into(),
        }
    }

    /// Takes the next page. `id` names an item uniquely within the listing (a user name, an
    /// access key id). Items already seen are dropped from `fresh` and stop the listing: a
    /// page that overlaps an earlier one says the markers cannot be trusted.
    pub fn page<T>(&mut self, page: Page<'_, T>, id: impl Fn(&T) -> &str) -> Step<T> {
        self.pages += 1;
        let number = self.pages;
        let mut fresh = Vec::with_capacity(page.items.len());
        let mut repeated = Vec::new();
        for item in page.items {
            if self.seen.insert(id(&item).to_string()) {
                fresh.push(item);
            } else {
                repeated.push(id(&item).to_string());
            }
        }
        let next = if let Some(example) = repeated.first() {
            Err(PaginationError::Duplicates { page: number, count: repeated.len(), example: example.clone() })
        } else {
            self.next_marker(number, page.is_truncated, page.marker)
        };
        Step { fresh, next }
    }

    fn next_marker(
        &mut self,
        page: usize,
        is_truncated: bool,
        marker: Option<&str>,
    ) -> Result<Option<String>, PaginationError> {
        let marker = marker.filter(|marker| !marker.is_empty());
        match (is_truncated, marker) {
            (false, None) => Ok(None),
            (false, Some(_)) => Err(PaginationError::MarkerWithoutTruncated { page }),
            (true, None) => Err(PaginationError::TruncatedWithoutMarker { page }),
            (true, Some(marker)) => {
                if let Some(&first) = self.markers.get(marker) {
                    return Err(PaginationError::MarkerRepeated { page, first });
                }
                if self.pages >= self.max_pages {
                    return Err(PaginationError::TooManyPages {
                        pages: self.pages,
                        expected: self.expected.clone(),
                    });
                }
                self.markers.insert(marker.to_string(), page);
                Ok(Some(marker.to_string()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page<'a>(items: &[&'a str], is_truncated: bool, marker: Option<&'a str>) -> Page<'a, &'a str> {
        Page { items: items.to_vec(), is_truncated, marker }
    }

    fn walk_all(pages: Vec<Page<'_, &str>>) -> (Vec<String>, Result<(), PaginationError>) {
        let mut walk = Walk::new(10, "10 users");
        let mut listed = Vec::new();
        for page in pages {
            let step = walk.page(page, |item| item);
            listed.extend(step.fresh.iter().map(|item| item.to_string()));
            match step.next {
                Ok(Some(_)) => continue,
                Ok(None) => return (listed, Ok(())),
                Err(error) => return (listed, Err(error)),
            }
        }
        panic!("the walk wanted more pages than the test gave")
    }

    #[test]
    fn a_well_formed_listing_ends_on_the_last_page() {
        let (listed, end) = walk_all(vec![page(&["a", "b"], true, Some("m1")), page(&["c"], false, None)]);
        assert_eq!((listed, end), (vec!["a".into(), "b".into(), "c".into()], Ok(())));
    }

    #[test]
    fn impossible_pages_stop_the_listing_with_an_error() {
        let (listed, end) = walk_all(vec![page(&["a"], true, None)]);
        assert_eq!(listed, ["a"], "what was listed is kept");
        assert_eq!(end.unwrap_err().code(), "MalformedResponse");

        let (_, end) = walk_all(vec![page(&["a"], false, Some("m1"))]);
        assert_eq!(end, Err(PaginationError::MarkerWithoutTruncated { page: 1 }));

        // m1 -> m2 -> m1: a cycle the SDK's paginator follows forever.
        let (listed, end) = walk_all(vec![
            page(&["a"], true, Some("m1")),
            page(&["b"], true, Some("m2")),
            page(&["c"], true, Some("m1")),
        ]);
        assert_eq!(listed.len(), 3);
        assert_eq!(end, Err(PaginationError::MarkerRepeated { page: 3, first: 1 }));
        assert_eq!(end.unwrap_err().code(), "PaginationLoop");

        let (listed, end) =
            walk_all(vec![page(&["a", "b"], true, Some("m1")), page(&["b", "c"], false, None)]);
        assert_eq!(listed, ["a", "b", "c"], "each item once");
        assert_eq!(end, Err(PaginationError::Duplicates { page: 2, count: 1, example: "b".into() }));
    }

    #[test]
    fn more_pages_than_the_account_could_fill_is_an_error() {
        let mut walk = Walk::new(2, "1 user");
        assert!(matches!(walk.page(page(&["a"], true, Some("m1")), |i| i).next, Ok(Some(_))));
        let step = walk.page(page(&[], true, Some("m2")), |i| i);
        assert_eq!(step.next.unwrap_err().code(), "TooManyPages");
    }
}
