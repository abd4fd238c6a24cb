package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
)

// The request and response bodies of the OpenAI API, as far as this
// gateway implements it. Field names and nullability follow the official
// OpenAPI description so that the official clients decode the answers.

// StreamOptions are the options of a streamed answer.
type StreamOptions struct {
	// IncludeUsage adds a last chunk with empty choices and the usage;
	// every other chunk then carries "usage": null.
	IncludeUsage bool `json:"include_usage"`
}

// samplingFields are the request fields shared by both endpoints.
type samplingFields struct {
	Model            string          `json:"model"`
	MaxTokens        *int            `json:"max_tokens"`
	Temperature      *float64        `json:"temperature"`
	TopP             *float64        `json:"top_p"`
	N                *int            `json:"n"`
	Stream           bool            `json:"stream"`
	StreamOptions    *StreamOptions  `json:"stream_options"`
	Stop             json.RawMessage `json:"stop"`
	Seed             *int64          `json:"seed"`
	PresencePenalty  *float64        `json:"presence_penalty"`
	FrequencyPenalty *float64        `json:"frequency_penalty"`
	LogitBias        map[string]any  `json:"logit_bias"`
	User             string          `json:"user"`

	// Extensions (llama.cpp's server accepts the same names).
	TopK              *int     `json:"top_k"`
	MinP              *float64 `json:"min_p"`
	RepetitionPenalty *float64 `json:"repetition_penalty"`
	RepeatPenalty     *float64 `json:"repeat_penalty"`
}

// CompletionRequest is the body of POST /v1/completions.
type CompletionRequest struct {
	samplingFields
	Prompt   json.RawMessage `json:"prompt"`
	Echo     bool            `json:"echo"`
	Suffix   *string         `json:"suffix"`
	BestOf   *int            `json:"best_of"`
	Logprobs *int            `json:"logprobs"`
}

// ChatMessage is one message of a chat request.
type ChatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
	Name    string          `json:"name,omitempty"`
}

// ChatRequest is the body of POST /v1/chat/completions.
type ChatRequest struct {
	samplingFields
	Messages            []ChatMessage   `json:"messages"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Logprobs            *bool           `json:"logprobs"`
	TopLogprobs         *int            `json:"top_logprobs"`
	Tools               json.RawMessage `json:"tools"`
	ToolChoice          json.RawMessage `json:"tool_choice"`
	Functions           json.RawMessage `json:"functions"`
	ResponseFormat      *struct {
		Type string `json:"type"`
	} `json:"response_format"`
}

// Usage counts a generation's tokens.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// CompletionChoice is a choice of a completion or completion chunk.
type CompletionChoice struct {
	Text         string  `json:"text"`
	Index        int     `json:"index"`
	Logprobs     any     `json:"logprobs"`      // always null
	FinishReason *string `json:"finish_reason"` // null until the last chunk
}

// Completion is the answer of POST /v1/completions, and each chunk of
// its stream.
type Completion struct {
	ID                string             `json:"id"`
	Object            string             `json:"object"` // "text_completion"
	Created           int64              `json:"created"`
	Model             string             `json:"model"`
	SystemFingerprint *string            `json:"system_fingerprint"`
	Choices           []CompletionChoice `json:"choices"`
	Usage             *Usage             `json:"usage,omitempty"`
	// CertificateID names the generation's certificate
	// (GET /v1/certificates/{id}).
	CertificateID string `json:"certificate_id"`
}

// AssistantMessage is the message of a chat completion choice.
type AssistantMessage struct {
	Role    string  `json:"role"` // "assistant"
	Content string  `json:"content"`
	Refusal *string `json:"refusal"` // always null
}

// ChatChoice is a choice of a chat completion.
type ChatChoice struct {
	Index        int              `json:"index"`
	Message      AssistantMessage `json:"message"`
	Logprobs     any              `json:"logprobs"` // always null
	FinishReason string           `json:"finish_reason"`
}

// ChatCompletion is the answer of POST /v1/chat/completions.
type ChatCompletion struct {
	ID                string       `json:"id"`
	Object            string       `json:"object"` // "chat.completion"
	Created           int64        `json:"created"`
	Model             string       `json:"model"`
	SystemFingerprint *string      `json:"system_fingerprint"`
	Choices           []ChatChoice `json:"choices"`
	Usage             Usage        `json:"usage"`
	CertificateID     string       `json:"certificate_id"`
}

// ChatDelta is the change a chat chunk carries.
type ChatDelta struct {
	Role    string  `json:"role,omitempty"`
	Content *string `json:"content,omitempty"`
}

// ChatChunkChoice is a choice of a chat completion chunk.
type ChatChunkChoice struct {
	Index        int       `json:"index"`
	Delta        ChatDelta `json:"delta"`
	Logprobs     any       `json:"logprobs"`      // always null
	FinishReason *string   `json:"finish_reason"` // null until the last chunk
}

// ChatCompletionChunk is one event of a streamed chat completion.
type ChatCompletionChunk struct {
	ID                string            `json:"id"`
	Object            string            `json:"object"` // "chat.completion.chunk"
	Created           int64             `json:"created"`
	Model             string            `json:"model"`
	SystemFingerprint *string           `json:"system_fingerprint"`
	Choices           []ChatChunkChoice `json:"choices"`
	// Usage is present (null, or the counts in the last chunk) only with
	// stream_options.include_usage.
	Usage         *Usage `json:"usage,omitempty"`
	CertificateID string `json:"certificate_id"`
}

// ModelObject is an entry of GET /v1/models.
type ModelObject struct {
	ID      string `json:"id"`
	Object  string `json:"object"` // "model"
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
	// Extensions: what the gateway knows about the model.
	ContextLength   int    `json:"context_length,omitempty"`
	ModelCommitment string `json:"model_commitment,omitempty"`
	ChatTemplate    string `json:"chat_template,omitempty"`
}

// ModelList is the answer of GET /v1/models.
type ModelList struct {
	Object string        `json:"object"` // "list"
	Data   []ModelObject `json:"data"`
}

// decodeStop parses "stop": null, a string, or an array of strings.
func decodeStop(raw json.RawMessage) ([]string, *Error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		if one == "" {
			return nil, nil
		}
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, invalid("stop", CodeInvalidValue, "stop must be a string or an array of strings")
	}
	if len(many) > maxStops {
		return nil, invalid("stop", CodeInvalidValue, "stop may hold at most %d strings, got %d", maxStops, len(many))
	}
	var out []string
	for _, s := range many {
		if s != "" {
			out = append(out, s)
		}
	}
	return out, nil
}

const maxStops = 16

// promptInput is a parsed completion prompt: text, or token ids.
type promptInput struct {
	text   string
	tokens []int
	isText bool
}

// decodePrompt parses "prompt": a string, an array of one string, an array
// of token ids, or an array of one array of token ids. Several prompts
// (batches) are refused: this gateway answers n=1 only.
func decodePrompt(raw json.RawMessage) (promptInput, *Error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return promptInput{}, invalid("prompt", CodeMissingParam, "you must provide a prompt")
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return promptInput{text: s, isText: true}, nil
	}
	var ss []string
	if json.Unmarshal(raw, &ss) == nil {
		if len(ss) != 1 {
			return promptInput{}, invalid("prompt", CodeUnsupported, "this gateway completes one prompt per request; got %d", len(ss))
		}
		return promptInput{text: ss[0], isText: true}, nil
	}
	var ids []int
	if json.Unmarshal(raw, &ids) == nil {
		return promptInput{tokens: ids}, nil
	}
	var idss [][]int
	if json.Unmarshal(raw, &idss) == nil {
		if len(idss) != 1 {
			return promptInput{}, invalid("prompt", CodeUnsupported, "this gateway completes one prompt per request; got %d", len(idss))
		}
		return promptInput{tokens: idss[0]}, nil
	}
	return promptInput{}, invalid("prompt", CodeInvalidValue, "prompt must be a string, an array of one string, or an array of token ids")
}

// decodeContent parses a message's content: a string, null, or an array
// of text parts.
func decodeContent(i int, raw json.RawMessage) (string, *Error) {
	param := fmt.Sprintf("messages[%d].content", i)
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var parts []struct {
		Type string  `json:"type"`
		Text *string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", invalid(param, CodeInvalidValue, "%s must be a string or an array of content parts", param)
	}
	var b strings.Builder
	for j, p := range parts {
		if p.Type != "text" || p.Text == nil {
			return "", invalid(fmt.Sprintf("%s[%d]", param, j), CodeUnsupported,
				"content parts of type %q are not supported; this gateway serves text models (use parts of type \"text\")", p.Type)
		}
		b.WriteString(*p.Text)
	}
	return b.String(), nil
}

// checkFloat checks an optional number against [lo, hi].
func checkFloat(param string, v *float64, lo, hi float64) *Error {
	if v != nil && (math.IsNaN(*v) || *v < lo || *v > hi) {
		return invalid(param, CodeInvalidValue, "%s must be between %g and %g, got %g", param, lo, hi, *v)
	}
	return nil
}

func rawIsNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}
