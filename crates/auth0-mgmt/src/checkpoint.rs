//! Checkpoint paging (`from`/`take`, following `next` until it is absent): the only way Auth0
//! serves a list past its first 1,000 records. Offset paging (`page`/`per_page`) is refused from
//! the page that would reach record 1,001 on
//! (`400 invalid_paging: Requesting page 10 exceeds the allowed maximum of 1000 records. To
//! fetch results beyond 1000, use the checkpoint pagination method.`).
//!
//! [`Pager`] walks such a list one page at a time, so a caller can compare or search each page
//! and drop it before the next one arrives: memory stays at one page whatever the tenant's size.

use std::marker::PhantomData;

use reqwest::Method;
use serde::de::DeserializeOwned;

use super::client::{TenantClient, decode};
use super::error::Auth0Error;
use super::model::Auth0Client;
use super::ratelimit::Priority;
use crate::ClientGrant;

/// Largest `take` of `GET /api/v2/clients` and `GET /api/v2/client-grants` (Auth0: 1..=100).
pub const MAX_CHECKPOINT_TAKE: u32 = 100;
/// Safety stop of a [`Pager`]: 10,000,000 items at 100 per page.
const MAX_CHECKPOINT_PAGES: u32 = 100_000;

/// One page of a checkpoint-paged list: its items and the checkpoint of the next page.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CheckpointPage<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// The checkpoint to pass as `from` for the next page; absent on the last page.
    pub next: Option<String>,
}

/// Walks a checkpoint-paged list page by page. Get one from [`TenantClient::client_pages`] or
/// [`TenantClient::client_grant_pages`] and call [`Pager::next_page`] until it returns `None`.
pub struct Pager<'a, T> {
    client: &'a TenantClient,
    path: &'static str,
    key: &'static str,
    what: &'static str,
    query: Vec<(&'static str, String)>,
    take: u32,
    priority: Priority,
    from: Option<String>,
    pages: u32,
    done: bool,
    _items: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> Pager<'_, T> {
    /// The next page, or `None` once the list is exhausted (the previous page had no `next`,
    /// was empty, or repeated its own checkpoint).
    pub async fn next_page(&mut self) -> Result<Option<Vec<T>>, Auth0Error> {
        if self.done {
            return Ok(None);
        }
        if self.pages >= MAX_CHECKPOINT_PAGES {
            tracing::warn!(tenant = %self.client.config.tenant, what = self.what,
                "stopped listing after {MAX_CHECKPOINT_PAGES} pages");
            self.done = true;
            return Ok(None);
        }
        let page: CheckpointPage<T> = self
            .client
            .checkpoint_page(
                (self.path, self.key, self.what),
                self.from.as_deref(),
                self.take,
                &self.query,
                self.priority,
            )
            .await?;
        self.pages += 1;
        match page.next {
            Some(next)
                if !next.is_empty()
                    && !page.items.is_empty()
                    && self.from.as_deref() != Some(next.as_str()) =>
            {
                self.from = Some(next);
            }
            _ => self.done = true,
        }
        Ok(Some(page.items))
    }

    /// Pages requested so far.
    pub fn pages(&self) -> u32 {
        self.pages
    }
}

impl TenantClient {
    /// One page of a checkpoint-paged list at `path`, its items under `key`.
    pub(crate) async fn checkpoint_page<T: DeserializeOwned>(
        &self,
        (path, key, what): (&str, &str, &'static str),
        from: Option<&str>,
        take: u32,
        query: &[(&str, String)],
        p: Priority,
    ) -> Result<CheckpointPage<T>, Auth0Error> {
        let mut q: Vec<(&str, String)> =
            vec![("take", take.clamp(1, MAX_CHECKPOINT_TAKE).to_string())];
        if let Some(from) = from {
            q.push(("from", from.to_owned()));
        }
        q.extend(query.iter().cloned());
        let bytes = self.call(Method::GET, path, &q, None, p).await?;
        // `{"<key>": [...], "next": "..."}`; an array (an offset-style answer) is a decode
        // error rather than a silently truncated list.
        let mut body: serde_json::Map<String, serde_json::Value> = decode(&bytes, what)?;
        let items = match body.remove(key) {
            Some(v) => {
                serde_json::from_value(v).map_err(|source| Auth0Error::Decode { what, source })?
            }
            None => Vec::new(),
        };
        let next = match body.remove("next") {
            Some(serde_json::Value::String(s)) => Some(s),
            _ => None,
        };
        Ok(CheckpointPage { items, next })
    }

    /// One checkpoint page of `GET /api/v2/clients` (`from`, `take` clamped to 1..=100, no
    /// `include_totals`). `fields` (when not empty) restricts the returned fields (`client_id`
    /// is always added).
    pub async fn list_clients_checkpoint(
        &self,
        from: Option<&str>,
        take: u32,
        fields: &[&str],
        p: Priority,
    ) -> Result<CheckpointPage<Auth0Client>, Auth0Error> {
        let query = fields_query(fields);
        self.checkpoint_page(
            ("/clients", "clients", "client list"),
            from,
            take,
            &query,
            p,
        )
        .await
    }

    /// Every client of the tenant, 100 per checkpoint page, one page at a time (see
    /// [`Pager`]); `fields` as in [`TenantClient::list_clients_checkpoint`].
    pub fn client_pages(&self, fields: &[&str], p: Priority) -> Pager<'_, Auth0Client> {
        self.pager(
            ("/clients", "clients", "client list"),
            fields_query(fields),
            p,
        )
    }

    /// Every client grant matching the filters (each `None` = no filter), 100 per checkpoint
    /// page, one page at a time.
    pub fn client_grant_pages(
        &self,
        client_id: Option<&str>,
        audience: Option<&str>,
        p: Priority,
    ) -> Pager<'_, ClientGrant> {
        let mut query = Vec::new();
        if let Some(c) = client_id {
            query.push(("client_id", c.to_owned()));
        }
        if let Some(a) = audience {
            query.push(("audience", a.to_owned()));
        }
        self.pager(
            ("/client-grants", "client_grants", "client grant list"),
            query,
            p,
        )
    }

    /// The first client (in Auth0's order) for which `wanted` holds, paging only as far as
    /// needed and keeping one page at a time.
    pub async fn find_client(
        &self,
        fields: &[&str],
        p: Priority,
        mut wanted: impl FnMut(&Auth0Client) -> bool,
    ) -> Result<Option<Auth0Client>, Auth0Error> {
        let mut pages = self.client_pages(fields, p);
        while let Some(page) = pages.next_page().await? {
            if let Some(found) = page.into_iter().find(|c| wanted(c)) {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    fn pager<T>(
        &self,
        (path, key, what): (&'static str, &'static str, &'static str),
        query: Vec<(&'static str, String)>,
        priority: Priority,
    ) -> Pager<'_, T> {
        Pager {
            client: self,
            path,
            key,
            what,
            query,
            take: MAX_CHECKPOINT_TAKE,
            priority,
            from: None,
            pages: 0,
            done: false,
            _items: PhantomData,
        }
    }
}

/// `fields` + `include_fields=true` (with `client_id` added), or nothing.
pub(crate) fn fields_query(fields: &[&str]) -> Vec<(&'static str, String)> {
    if fields.is_empty() {
        return Vec::new();
    }
    let mut f: Vec<&str> = fields.to_vec();
    if !f.contains(&"client_id") {
        f.push("client_id");
    }
    vec![
        ("fields", f.join(",")),
        ("include_fields", "true".to_owned()),
    ]
}
