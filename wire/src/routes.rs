//! Route tables: each service's endpoints as (method, path template) rows, the one place a path
//! becomes an endpoint. The tables are what the OpenAPI description (`server/openapi.json`) is held
//! to, in both directions, so no route can be added without its description or the reverse.

use pinauth_domain::AccountId;

/// What a template's parameters took from the path.
#[derive(Clone, Copy, Debug, Default)]
pub struct Captures<'a> {
    /// `{uid}`: the account.
    pub uid: Option<AccountId>,
    /// `{type}`: the segment, as the client spelled it (in lower case).
    pub kind: Option<&'a str>,
}

/// One endpoint: `method` on `path`, a lower-case template whose `{uid}` segment takes a UUID and
/// whose `{type}` segment takes any one segment; `endpoint` makes the endpoint of what they took.
pub struct Route<E> {
    pub method: &'static str,
    pub path: &'static str,
    pub endpoint: fn(&Captures<'_>) -> Option<E>,
}

/// The endpoint of the first row of `routes` for `method` that `path` (lower case, without a
/// trailing slash) fits.
pub fn find<E>(routes: &[Route<E>], method: &str, path: &str) -> Option<E> {
    routes
        .iter()
        .filter(|route| route.method == method)
        .find_map(|route| (route.endpoint)(&fit(route.path, path)?))
}

/// The (method, path template) of every row of `routes`.
pub fn templates<E>(
    routes: &'static [Route<E>],
) -> impl Iterator<Item = (&'static str, &'static str)> {
    routes.iter().map(|route| (route.method, route.path))
}

/// Whether some row of `routes` fits `path`, whatever the method (for 405-like answers).
pub fn fits_any<E>(routes: &[Route<E>], path: &str) -> bool {
    routes.iter().any(|route| fit(route.path, path).is_some())
}

/// What `path` gives `template`'s parameters, if it fits.
pub fn fit<'a>(template: &str, path: &'a str) -> Option<Captures<'a>> {
    let mut captures = Captures::default();
    let mut segments = path.split('/');
    for expected in template.split('/') {
        let segment = segments.next()?;
        match expected {
            "{uid}" => {
                captures.uid = Some(AccountId::from_uuid(uuid::Uuid::try_parse(segment).ok()?));
            }
            "{type}" if !segment.is_empty() => captures.kind = Some(segment),
            literal if literal == segment => {}
            _ => return None,
        }
    }
    segments.next().is_none().then_some(captures)
}

/// A path that fits `template`, for tests and the description's checks: `{uid}` a fixed UUID and
/// `{type}` `kind`.
pub fn example(template: &str, kind: &str) -> String {
    template
        .replace("{uid}", "6b4b23de-42e5-4bba-9024-7b0ea99db371")
        .replace("{type}", kind)
}

/// Why `routes` is not a sound table, if it is not: a row whose example path does not route to
/// it, or two rows of one method that fit one path.
pub fn check<E>(routes: &[Route<E>]) -> Result<(), String> {
    for (n, route) in routes.iter().enumerate() {
        let path = example(route.path, "forgotpin");
        let first = routes
            .iter()
            .position(|r| r.method == route.method && fit(r.path, &path).is_some());
        if first != Some(n) {
            return Err(format!(
                "{} {} is shadowed by row {first:?} or does not fit its own example {path}",
                route.method, route.path
            ));
        }
        if (route.endpoint)(&fit(route.path, &path).unwrap_or_default()).is_none() {
            return Err(format!(
                "{} {} makes no endpoint of {path}",
                route.method, route.path
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_take_uuids_and_single_segments_and_nothing_more() {
        let uid = "6b4b23de-42e5-4bba-9024-7b0ea99db371";
        let path = format!("/a/{uid}/pin");
        let fitted = fit("/a/{uid}/pin", &path).unwrap();
        assert_eq!(fitted.uid.unwrap().to_string(), uid);
        assert!(fit("/a/{uid}/pin", "/a/not-a-uuid/pin").is_none());
        assert!(fit("/a/{uid}/pin", &format!("/a/{uid}/pin/more")).is_none());
        assert!(fit("/a/{uid}/pin", &format!("/a/{uid}")).is_none());
        assert_eq!(
            fit("/a/{type}", "/a/forgotpin").unwrap().kind,
            Some("forgotpin")
        );
        assert!(fit("/a/{type}", "/a/").is_none());
        assert!(fit("/a/{type}", "/a/b/c").is_none());
        assert!(fit("/a/b", "/a/b").is_some());
        assert!(fit("/a/b", "/a/c").is_none());
    }

    #[test]
    fn find_takes_the_method_into_account() {
        let routes: [Route<u8>; 2] = [
            Route {
                method: "GET",
                path: "/x",
                endpoint: |_| Some(1),
            },
            Route {
                method: "PUT",
                path: "/x",
                endpoint: |_| Some(2),
            },
        ];
        assert_eq!(find(&routes, "PUT", "/x"), Some(2));
        assert_eq!(find(&routes, "POST", "/x"), None);
        assert!(fits_any(&routes, "/x"));
        assert_eq!(
            example("/a/{uid}/{type}", "t"),
            "/a/6b4b23de-42e5-4bba-9024-7b0ea99db371/t"
        );
    }
}
