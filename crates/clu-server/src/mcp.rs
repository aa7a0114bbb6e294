//! The MCP endpoint: an rmcp server over streamable HTTP exposing the tools offered to the
//! model, each call going through `Registry::call`, so the guard, redaction and audit apply
//! (write verbs there only produce plans).
//!
//! It runs stateless, answering each POST with JSON: no session lives in one replica's memory,
//! so any replica behind the Service can answer any request.

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, JsonObject,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::service::Shared;
use crate::settings::ServeSettings;

/// The tower service mounted at `/mcp`.
pub(crate) fn service(
    shared: Arc<Shared>,
    settings: &ServeSettings,
    stop: CancellationToken,
) -> StreamableHttpService<McpTools, LocalSessionManager> {
    let mut config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .with_cancellation_token(stop);
    config = if settings.mcp_allowed_hosts.is_empty() {
        config.disable_allowed_hosts()
    } else {
        config.with_allowed_hosts(settings.mcp_allowed_hosts.clone())
    };
    let handler = McpTools { shared };
    StreamableHttpService::new(move || Ok(handler.clone()), Arc::default(), config)
}

/// The MCP server handler over the service's registry.
#[derive(Clone)]
pub(crate) struct McpTools {
    shared: Arc<Shared>,
}

impl McpTools {
    fn tool(&self, name: &str) -> Option<Tool> {
        if !self.shared.is_offered(name) {
            return None;
        }
        let spec = self.shared.registry.get(name)?.spec();
        let schema: JsonObject = match &spec.input_schema {
            Value::Object(object) => object.clone(),
            _ => JsonObject::new(),
        };
        Some(Tool::new(spec.name, spec.description, schema))
    }
}

impl ServerHandler for McpTools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("clu-ops-agent", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Clu's tools for an Amazon EKS cluster and its AWS account. Every call is \
                 permission-checked, redacted and audited; write verbs only produce plans that a \
                 human approves.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let tools = self.shared.offered_tools().iter().filter_map(|name| self.tool(name)).collect();
        Ok(ListToolsResult::with_all_items(tools))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tool(name)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let name = request.name.as_ref();
        if self.shared.registry.get(name).is_some() && !self.shared.is_offered(name) {
            let refusal = crate::api::not_offered(&self.shared, name);
            return Err(ErrorData::invalid_params(refusal.message, None));
        }
        let input = Value::Object(request.arguments.unwrap_or_default());
        let outcome = self.shared.registry.call(&self.shared.env, name, input).await;
        let audit = &outcome.audit;
        self.shared.metrics.tool_call(&audit.tool, &audit.outcome, audit.duration_ms);
        // A failed call is a tool-level error the client shows, with the stable code, not a
        // protocol error it would hide.
        Ok(match outcome.result {
            Ok(value) => CallToolResult::structured(value),
            Err(error) => CallToolResult::structured_error(crate::api::tool_error_value(&error)),
        }
        .into())
    }
}
