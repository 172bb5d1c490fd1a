//! `GET /directory`: the public search page for people and insurers. Server-rendered HTML
//! (askama, escaped by default), Japanese labels, usable on a phone without scripts; the
//! same search and the same masking (`10人未満`) as `GET /directory/organizations`.

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use time::{OffsetDateTime, UtcOffset};

use super::query;
use crate::app::AppState;
use crate::domain::directory::{FUNCTIONS, PREFECTURES, prefecture_code};
use crate::service::directory::{self, DirectorySearch, OrganizationView};
use crate::service::fhir::query_string;

const PAGE_SIZE: i64 = 20;

/// An option of a select.
struct Choice {
    code: String,
    label: String,
    selected: bool,
}

struct FunctionBadge {
    label: String,
    common: bool,
}

/// One institution as a card.
struct Card {
    code: String,
    name: String,
    address: String,
    phone: Option<String>,
    url: Option<String>,
    registered: String,
    certified_on: Option<String>,
    functions: Vec<FunctionBadge>,
    /// 満足度: the overall mean and the responses, or why it is not shown.
    satisfaction: String,
}

#[derive(Template)]
#[template(path = "directory.html")]
struct DirectoryHtml {
    functions: Vec<Choice>,
    prefectures: Vec<Choice>,
    city: String,
    q: String,
    error: Option<String>,
    total: i64,
    first: i64,
    last: i64,
    organizations: Vec<Card>,
    previous: Option<String>,
    next: Option<String>,
}

/// `2026-04-01` in Japan time.
fn japan_date(epoch_millis: i64) -> Option<String> {
    let jst = UtcOffset::from_hms(9, 0, 0).ok()?;
    let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(epoch_millis) * 1_000_000)
        .ok()?
        .to_offset(jst);
    Some(format!(
        "{}年{}月{}日",
        at.year(),
        at.month() as u8,
        at.day()
    ))
}

fn card(o: OrganizationView) -> Card {
    let address = format!(
        "{}{}{}",
        o.prefecture_name,
        o.city.as_deref().unwrap_or(""),
        o.address.as_deref().unwrap_or("")
    );
    let registered = if o.registered_persons == "<10" {
        "10人未満".to_owned()
    } else {
        format!("{}人", o.registered_persons)
    };
    let satisfaction = match &o.satisfaction {
        Some(s) if !s.items.is_empty() => {
            let overall = s
                .items
                .iter()
                .find(|i| i.item == "overall")
                .map_or("", |i| i.mean.as_str());
            format!("{overall} / 5（回答 {} 件）", s.responses)
        }
        _ => "回答が10件未満のため非表示".to_owned(),
    };
    Card {
        satisfaction,
        certified_on: o.certified_at.and_then(japan_date),
        functions: o
            .functions
            .into_iter()
            .map(|f| FunctionBadge {
                label: f.label,
                common: f.common,
            })
            .collect(),
        code: o.code,
        name: o.name,
        address,
        phone: o.phone,
        url: o
            .url
            .filter(|u| u.starts_with("https://") || u.starts_with("http://")),
        registered,
    }
}

/// The link to another page of the same search.
fn page_link(search: &DirectorySearch, offset: i64) -> String {
    let mut pairs = Vec::new();
    for (name, value) in [
        ("function", &search.function),
        ("prefecture", &search.prefecture),
        ("city", &search.city),
        ("q", &search.q),
    ] {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            pairs.push((name.to_owned(), v.to_owned()));
        }
    }
    pairs.push(("offset".to_owned(), offset.to_string()));
    format!("/directory?{}", query_string(&pairs))
}

fn form(search: &DirectorySearch) -> DirectoryHtml {
    let selected_prefecture = search.prefecture.as_deref().and_then(prefecture_code);
    DirectoryHtml {
        functions: FUNCTIONS
            .iter()
            .map(|f| Choice {
                code: f.code.into(),
                label: f.label.into(),
                selected: search.function.as_deref() == Some(f.code),
            })
            .collect(),
        prefectures: PREFECTURES
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let code = format!("{:02}", i + 1);
                Choice {
                    selected: selected_prefecture.as_deref() == Some(code.as_str()),
                    code,
                    label: (*name).into(),
                }
            })
            .collect(),
        city: search.city.clone().unwrap_or_default(),
        q: search.q.clone().unwrap_or_default(),
        error: None,
        total: 0,
        first: 0,
        last: 0,
        organizations: Vec::new(),
        previous: None,
        next: None,
    }
}

fn html(status: StatusCode, page: &DirectoryHtml) -> HttpResponse {
    match page.render() {
        Ok(body) => {
            let mut resp = HttpResponse::build(status)
                .content_type("text/html; charset=utf-8")
                .body(body);
            let headers = resp.headers_mut();
            headers.insert(
                CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
                ),
            );
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp
        }
        Err(_) => {
            tracing::error!("directory page failed to render");
            HttpResponse::InternalServerError()
                .content_type("text/plain; charset=utf-8")
                .body("表示できませんでした。")
        }
    }
}

/// `GET /directory`.
pub async fn page(app: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let search: DirectorySearch = match query::parse(&req) {
        Ok(s) => s,
        Err(_) => {
            let mut page = form(&DirectorySearch::default());
            page.error = Some("検索条件を読み取れませんでした。".into());
            return html(StatusCode::BAD_REQUEST, &page);
        }
    };
    let mut page = form(&search);
    let offset = search.offset.unwrap_or(0).max(0);
    let query = DirectorySearch {
        limit: Some(PAGE_SIZE),
        offset: Some(offset),
        ..search.clone()
    };
    match directory::search(&app, query).await {
        Ok(result) => {
            let shown = result.organizations.len() as i64;
            page.total = result.total;
            page.first = offset + 1;
            page.last = offset + shown;
            page.previous = (offset > 0).then(|| page_link(&search, (offset - PAGE_SIZE).max(0)));
            page.next =
                (offset + shown < result.total).then(|| page_link(&search, offset + PAGE_SIZE));
            page.organizations = result.organizations.into_iter().map(card).collect();
            html(StatusCode::OK, &page)
        }
        Err(problem) => {
            let status = StatusCode::from_u16(problem.status()).unwrap_or(StatusCode::BAD_REQUEST);
            page.error = Some(match problem.issues.first().map(|i| i.location.as_str()) {
                Some("function") => "機能の指定が正しくありません。".into(),
                Some("prefecture") => "都道府県の指定が正しくありません。".into(),
                _ => "検索できませんでした。しばらくしてからもう一度お試しください。".into(),
            });
            html(status, &page)
        }
    }
}
