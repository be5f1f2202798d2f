//! The request body: async-openai's `CreateChatCompletionRequest`, always streamed with the
//! usage in the last chunk.

use async_openai::types::chat::{
    ChatCompletionMessageToolCall, ChatCompletionMessageToolCalls,
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestAssistantMessageContent,
    ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
    ChatCompletionRequestSystemMessageContent, ChatCompletionRequestToolMessage,
    ChatCompletionRequestToolMessageContent, ChatCompletionRequestUserMessage,
    ChatCompletionRequestUserMessageContent, ChatCompletionStreamOptions, ChatCompletionTool,
    ChatCompletionTools, CreateChatCompletionRequest, FunctionCall, FunctionObject,
};

use super::{ChatMessage, ToolSpec};

/// The JSON body of a streamed completion of `messages` with `tools` (none: no `tools` key,
/// which some servers reject when empty).
pub(super) fn body(
    model: &str,
    max_tokens: u32,
    messages: &[ChatMessage],
    tools: &[ToolSpec],
) -> serde_json::Result<Vec<u8>> {
    // `max_tokens` rather than `max_completion_tokens`: the name Ark and llama.cpp read.
    #[allow(deprecated)]
    let request = CreateChatCompletionRequest {
        model: model.to_owned(),
        messages: messages.iter().map(message).collect(),
        tools: (!tools.is_empty()).then(|| tools.iter().map(tool).collect()),
        stream: Some(true),
        stream_options: Some(ChatCompletionStreamOptions {
            include_usage: Some(true),
            include_obfuscation: None,
        }),
        max_tokens: Some(max_tokens),
        ..Default::default()
    };
    serde_json::to_vec(&request)
}

fn message(message: &ChatMessage) -> ChatCompletionRequestMessage {
    match message {
        ChatMessage::System(text) => {
            ChatCompletionRequestMessage::System(ChatCompletionRequestSystemMessage {
                content: ChatCompletionRequestSystemMessageContent::Text(text.clone()),
                name: None,
            })
        }
        ChatMessage::User(text) => {
            ChatCompletionRequestMessage::User(ChatCompletionRequestUserMessage {
                content: ChatCompletionRequestUserMessageContent::Text(text.clone()),
                name: None,
            })
        }
        ChatMessage::Assistant { text, tool_calls } => {
            // A turn of tool calls only has no content (not an empty string).
            let content = (!text.is_empty() || tool_calls.is_empty())
                .then(|| ChatCompletionRequestAssistantMessageContent::Text(text.clone()));
            let tool_calls = (!tool_calls.is_empty()).then(|| {
                tool_calls
                    .iter()
                    .map(|call| {
                        ChatCompletionMessageToolCalls::Function(ChatCompletionMessageToolCall {
                            id: call.id.clone(),
                            function: FunctionCall {
                                name: call.name.clone(),
                                arguments: call.arguments.clone(),
                            },
                        })
                    })
                    .collect()
            });
            ChatCompletionRequestMessage::Assistant(ChatCompletionRequestAssistantMessage {
                content,
                tool_calls,
                ..Default::default()
            })
        }
        ChatMessage::Tool { call_id, content } => {
            ChatCompletionRequestMessage::Tool(ChatCompletionRequestToolMessage {
                content: ChatCompletionRequestToolMessageContent::Text(content.clone()),
                tool_call_id: call_id.clone(),
            })
        }
    }
}

fn tool(spec: &ToolSpec) -> ChatCompletionTools {
    ChatCompletionTools::Function(ChatCompletionTool {
        function: FunctionObject {
            name: spec.name.to_owned(),
            description: Some(spec.description.to_owned()),
            parameters: Some(spec.parameters.clone()),
            strict: None,
        },
    })
}

/// Prompt tokens when the endpoint reports none: 4 characters a token, over the messages and
/// the tools' descriptions.
pub(super) fn estimate_prompt_tokens(messages: &[ChatMessage], tools: &[ToolSpec]) -> u32 {
    let chars: usize = messages
        .iter()
        .map(|message| match message {
            ChatMessage::System(text) | ChatMessage::User(text) => text.chars().count(),
            ChatMessage::Assistant { text, tool_calls } => {
                text.chars().count()
                    + tool_calls
                        .iter()
                        .map(|call| call.name.chars().count() + call.arguments.chars().count())
                        .sum::<usize>()
            }
            ChatMessage::Tool { content, .. } => content.chars().count(),
        })
        .sum::<usize>()
        + tools
            .iter()
            .map(|tool| {
                tool.name.chars().count()
                    + tool.description.chars().count()
                    + tool.parameters.to_string().chars().count()
            })
            .sum::<usize>();
    tokens(chars)
}

/// `chars` characters as tokens (4 a token, rounded up).
pub(super) fn tokens(chars: usize) -> u32 {
    u32::try_from(chars.div_ceil(4)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::model::ToolCall;

    #[test]
    fn the_body_streams_with_usage_and_carries_tools_and_tool_turns() {
        let tools = [ToolSpec {
            name: "search_products",
            description: "Search the catalog.",
            parameters: json!({ "type": "object" }),
        }];
        let call = ToolCall {
            id: "call_1".into(),
            name: "search_products".into(),
            arguments: "{}".into(),
        };
        let messages = [
            ChatMessage::System("s".into()),
            ChatMessage::User("u".into()),
            ChatMessage::Assistant {
                text: String::new(),
                tool_calls: vec![call],
            },
            ChatMessage::Tool {
                call_id: "call_1".into(),
                content: "[]".into(),
            },
            ChatMessage::Assistant {
                text: "a".into(),
                tool_calls: Vec::new(),
            },
        ];
        let sent: Value =
            serde_json::from_slice(&body("ep-1", 256, &messages, &tools).expect("body"))
                .expect("JSON");
        assert_eq!(sent["model"], "ep-1");
        assert_eq!(sent["stream"], true);
        assert_eq!(sent["stream_options"], json!({ "include_usage": true }));
        assert_eq!(sent["max_tokens"], 256);
        assert_eq!(
            sent["tools"],
            json!([{ "type": "function", "function": {
                "name": "search_products", "description": "Search the catalog.", "parameters": { "type": "object" },
            }}])
        );
        assert_eq!(
            sent["messages"],
            json!([
                { "role": "system", "content": "s" },
                { "role": "user", "content": "u" },
                { "role": "assistant", "tool_calls": [{ "id": "call_1", "type": "function", "function": { "name": "search_products", "arguments": "{}" } }] },
                { "role": "tool", "content": "[]", "tool_call_id": "call_1" },
                { "role": "assistant", "content": "a" },
            ])
        );
        let bare: Value = serde_json::from_slice(&body("m", 1, &messages[..2], &[]).expect("body"))
            .expect("JSON");
        assert!(bare.get("tools").is_none(), "no empty tools list");
    }
}
