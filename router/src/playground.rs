//! The `mall_playground` router plugin: serves the web playground (`web-playground/`, built
//! into `web-playground/dist` by `npm run build`) at `/playground` on the router's own port,
//! so that the page and the API share an origin (no CORS, tokens never leave it).
//!
//! The files are read once, when the router starts (the bundle is a few MB). Development
//! serves it by default; `mall` turns it off in production (`PLAYGROUND_ENABLED=false`).
//! When the bundle has not been built, `/playground` says how to build it instead.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use hive_router::async_trait;
use hive_router::executor::hooks::on_http_request::{
    OnHttpRequestHookFuture, OnHttpRequestHookPayload,
};
use hive_router::executor::hooks::on_plugin_init::{OnPluginInitPayload, OnPluginInitResult};
use hive_router::executor::plugin_trait::{RouterPlugin, StartHookPayload as _};
use hive_router::http::StatusCode;
use hive_router::ntex::http::{Method, Response};
use hive_router::ntex::util::Bytes;
use serde::Deserialize;

/// Where the playground is served.
pub const PATH: &str = "/playground";

/// The page may load and connect only to the router itself: a stray reference to a CDN,
/// font or icon server fails in the browser instead of leaking requests (the browser test
/// also blocks and counts them). Monaco needs inline styles, blob workers and `data:` fonts.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
    worker-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'";

const NOT_BUILT: &str = "<!doctype html><meta charset=utf-8><title>Playground not built</title>\
    <p>The playground has not been built. Run <code>npm ci &amp;&amp; npm run build</code> in \
    <code>web-playground/</code> (<code>cargo run</code> does it when Node.js is installed), \
    then restart. The router's own GraphiQL is at <a href=/graphql>/graphql</a>.";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MallPlaygroundConfig {
    /// The built bundle, relative to the router's configuration file.
    dir: PathBuf,
    /// "true" or "false" (a string, so that it can come from the environment).
    #[serde(default = "enabled_by_default")]
    serve: String,
}

fn enabled_by_default() -> String {
    "true".to_owned()
}

struct Asset {
    content_type: &'static str,
    body: Bytes,
    /// Vite puts a content hash in every file name under `assets/`: cached for good.
    immutable: bool,
}

pub struct MallPlayground {
    /// Relative path under `/playground/` → file; empty when the bundle is missing.
    assets: HashMap<String, Asset>,
}

fn content_type(path: &Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
    {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "ttf" => "font/ttf",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

fn read_dir(root: &Path, dir: &Path, assets: &mut HashMap<String, Asset>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            read_dir(root, &path, assets)?;
            continue;
        }
        let Ok(relative) = path.strip_prefix(root) else {
            continue;
        };
        let name = relative.to_string_lossy().replace('\\', "/");
        assets.insert(
            name.clone(),
            Asset {
                content_type: content_type(&path),
                body: Bytes::from(std::fs::read(&path)?),
                immutable: name.starts_with("assets/"),
            },
        );
    }
    Ok(())
}

impl MallPlayground {
    fn respond(&self, relative: &str) -> Response {
        let relative = if relative.is_empty() {
            "index.html"
        } else {
            relative
        };
        if self.assets.is_empty() {
            return Response::build(StatusCode::SERVICE_UNAVAILABLE)
                .content_type("text/html; charset=utf-8")
                .body(NOT_BUILT);
        }
        let Some(asset) = self.assets.get(relative) else {
            return Response::build(StatusCode::NOT_FOUND)
                .content_type("text/plain; charset=utf-8")
                .body("not found");
        };
        let cache = if asset.immutable {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };
        Response::build(StatusCode::OK)
            .content_type(asset.content_type)
            .header("cache-control", cache)
            .header("content-security-policy", CONTENT_SECURITY_POLICY)
            .header("x-content-type-options", "nosniff")
            .body(asset.body.clone())
    }
}

#[async_trait]
impl RouterPlugin for MallPlayground {
    fn plugin_name() -> &'static str {
        "mall_playground"
    }

    type Config = MallPlaygroundConfig;

    fn on_plugin_init(payload: OnPluginInitPayload<Self>) -> OnPluginInitResult<Self> {
        let config = payload.config()?;
        match config.serve.trim() {
            "true" => {}
            "false" => return Ok(None),
            other => {
                return Err(
                    format!("mall_playground: serve must be true or false, not {other:?}").into(),
                );
            }
        }
        let base = std::env::var_os(crate::CONFIG_ENV)
            .map(PathBuf::from)
            .and_then(|file| file.parent().map(Path::to_path_buf))
            .unwrap_or_default();
        let dir = base.join(&config.dir);
        let mut assets = HashMap::new();
        if dir.join("index.html").is_file() {
            read_dir(&dir, &dir, &mut assets)
                .map_err(|e| format!("mall_playground: reading {}: {e}", dir.display()))?;
        } else {
            eprintln!(
                "the playground is not built ({} is missing): /playground explains how to build it",
                dir.join("index.html").display()
            );
        }
        Ok(Some(Self { assets }))
    }

    fn on_http_request<'req>(
        &'req self,
        payload: OnHttpRequestHookPayload<'req>,
    ) -> OnHttpRequestHookFuture<'req> {
        Box::pin(async move {
            let request = &payload.router_http_request;
            let method = request.method();
            if method != Method::GET && method != Method::HEAD {
                return payload.proceed();
            }
            let path = request.path();
            if path == PATH {
                // Relative asset URLs need the trailing slash.
                let redirect = Response::build(StatusCode::PERMANENT_REDIRECT)
                    .header("location", "/playground/")
                    .finish();
                return payload.end_with_response(redirect);
            }
            let Some(relative) = path.strip_prefix("/playground/") else {
                return payload.proceed();
            };
            let response = self.respond(relative);
            payload.end_with_response(response)
        })
    }
}
