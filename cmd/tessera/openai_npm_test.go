package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// openAIPackage is the official OpenAI client the test installs from npm
// (6.x runs on Node.js 20, the machine's; 7.x needs Node.js 22).
const openAIPackage = "openai@6"

// openAIModule installs the official openai npm package once per machine
// (under the user's cache directory, or $TESSERA_NPM_CACHE) and returns the
// module's directory. The test is skipped, saying why, when Node.js or npm
// is missing or the registry cannot be reached.
func openAIModule(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("official-client test skipped: node is not installed")
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skip("official-client test skipped: npm is not installed")
	}
	root := os.Getenv("TESSERA_NPM_CACHE")
	if root == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		root = filepath.Join(cache, "tessera-test", "npm-"+strings.ReplaceAll(openAIPackage, "@", "-"))
	}
	mod := filepath.Join(root, "node_modules", "openai")
	if _, err := os.Stat(filepath.Join(mod, "package.json")); err == nil {
		return mod
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "install", "--no-audit", "--no-fund", "--no-save", "--loglevel=error", "--prefix", root, openAIPackage)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("official-client test skipped: npm install %s failed (offline?): %v\n%s", openAIPackage, err, out)
	}
	return mod
}

// The script the official client runs: models, a chat completion
// unstreamed and streamed, a completion, and three errors.
const openAIScript = `
const mod = require(process.env.OPENAI_MODULE);
const OpenAI = mod.OpenAI || mod.default || mod;
const baseURL = process.env.BASE_URL, apiKey = process.env.API_KEY;
const model = process.env.MODEL, prompt = process.env.PROMPT;
const messages = [{ role: "user", content: prompt }];
const describe = (e) => ({ name: e.constructor.name, status: e.status, code: e.code, type: e.type, message: e.message });
(async () => {
  const client = new OpenAI({ baseURL, apiKey, maxRetries: 0 });
  const out = {};
  out.models = (await client.models.list()).data.map((m) => m.id);
  const { data: chat, response } = await client.chat.completions
    .create({ model, messages, temperature: 0, max_tokens: 16 }).withResponse();
  out.text = chat.choices[0].message.content;
  out.finish = chat.choices[0].finish_reason;
  out.usage = chat.usage;
  out.certificate = chat.certificate_id;
  out.header = response.headers.get("x-tessera-certificate");
  const stream = await client.chat.completions.create({ model, messages, temperature: 0, max_tokens: 16, stream: true, stream_options: { include_usage: true } });
  out.streamText = "";
  out.chunks = 0;
  for await (const chunk of stream) {
    out.chunks++;
    for (const c of chunk.choices) {
      out.streamText += c.delta.content ?? "";
      if (c.finish_reason) out.streamFinish = c.finish_reason;
    }
    if (chunk.usage) out.streamUsage = chunk.usage;
  }
  const completion = await client.completions.create({ model, prompt, temperature: 0, max_tokens: 16 });
  out.completion = completion.choices[0].text;
  const errors = {};
  try { await new OpenAI({ baseURL, apiKey: "sk-wrong-key", maxRetries: 0 }).chat.completions.create({ model, messages }); }
  catch (e) { errors.auth = describe(e); }
  try { await client.chat.completions.create({ model: "gpt-4o", messages }); }
  catch (e) { errors.model = describe(e); }
  try { await client.chat.completions.create({ model, messages, n: 2 }); }
  catch (e) { errors.n = describe(e); }
  // An account whose ledger balance cannot pay, with the client's default
  // retries: the gateway says not to retry.
  try { await new OpenAI({ baseURL, apiKey: process.env.POOR_KEY }).chat.completions.create({ model, messages, max_tokens: 16 }); }
  catch (e) { errors.quota = describe(e); }
  out.errors = errors;
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
`

// The official openai npm client, against a gateway over a local
// three-node swarm, gets the text of ` + "`tessera generate`" + `, streamed and
// not, and raises the documented error classes, insufficient_quota (an
// account of the gateway's embedded ledger with no credits) included,
// without retrying it.
func TestOpenAINodeClient(t *testing.T) {
	mod := openAIModule(t)
	client, addrs := startSliceNodes(t, demoRanges)
	const key, poorKey = "sk-npm-test", "sk-npm-poor"
	dir := t.TempDir()
	home := filepath.Join(dir, "ledger")
	for _, name := range []string{"rich.key", "poor.key"} {
		if _, err := run(t, "ledger", "key", "--new", filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := run(t, "ledger", "faucet", "--key", filepath.Join(dir, "rich.key"), "--amount", "100000", "--home", home); err != nil {
		t.Fatal(err)
	}
	keysFile := filepath.Join(dir, "keys")
	if err := os.WriteFile(keysFile, []byte(key+" rich rich.key\n"+poorKey+" poor poor.key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	g := startTestGateway(t, gatewayOptions{ModelPath: client, Peers: addrs, KeysFile: keysFile, Ledger: ledgerFlags{Home: home}})
	want := generateText(t, e2ePrompt, 16)

	script := filepath.Join(t.TempDir(), "client.cjs")
	if err := os.WriteFile(script, []byte(openAIScript), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", script)
	cmd.Env = append(os.Environ(), "OPENAI_MODULE="+mod, "BASE_URL="+g.URL+"/v1", "API_KEY="+key, "POOR_KEY="+poorKey, "MODEL=kjv", "PROMPT="+e2ePrompt)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node client: %v\n%s", err, stderr.String())
	}
	var got struct {
		Models      []string
		Text        string
		Finish      string
		Usage       map[string]int
		Certificate string
		Header      string
		StreamText  string
		StreamFin   string `json:"streamFinish"`
		StreamUsage map[string]int
		Chunks      int
		Completion  string
		Errors      map[string]struct {
			Name    string
			Status  int
			Code    string
			Type    string
			Message string
		}
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("node client printed %q: %v", out, err)
	}
	if len(got.Models) != 1 || got.Models[0] != "kjv" {
		t.Errorf("models %v", got.Models)
	}
	if got.Text != want || got.StreamText != want || got.Completion != want {
		t.Errorf("tessera generate: %q\nchat:       %q\nstreamed:   %q\ncompletion: %q", want, got.Text, got.StreamText, got.Completion)
	}
	if got.Finish != "length" || got.StreamFin != "length" || got.Usage["completion_tokens"] != 16 || got.StreamUsage["completion_tokens"] != 16 ||
		got.Usage["total_tokens"] != got.Usage["prompt_tokens"]+16 || got.Chunks < 18 {
		t.Errorf("finish %q/%q, usage %v/%v, %d chunks", got.Finish, got.StreamFin, got.Usage, got.StreamUsage, got.Chunks)
	}
	if got.Certificate == "" || got.Certificate != got.Header {
		t.Errorf("certificate field %q, header %q", got.Certificate, got.Header)
	}
	for name, want := range map[string]struct {
		class  string
		status int
		code   string
	}{
		"auth":  {"AuthenticationError", 401, "invalid_api_key"},
		"model": {"NotFoundError", 404, "model_not_found"},
		"n":     {"BadRequestError", 400, "unsupported_parameter"},
		"quota": {"RateLimitError", 429, "insufficient_quota"},
	} {
		e := got.Errors[name]
		typ := "invalid_request_error"
		if name == "quota" {
			typ = "insufficient_quota"
		}
		if e.Name != want.class || e.Status != want.status || e.Code != want.code || e.Type != typ {
			t.Errorf("%s error: %+v, want %s %d %s", name, e, want.class, want.status, want.code)
		}
	}
	resp, err := http.Get(g.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if w := `tessera_gateway_requests_total{code="429",endpoint="chat_completions"} 1`; !strings.Contains(string(metrics), w) {
		t.Errorf("the client retried insufficient_quota (metrics lack %s)", w)
	}
}
