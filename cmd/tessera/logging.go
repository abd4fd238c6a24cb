package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"
)

// logOptions choose the format and level of a long-running command's
// log (gateway, node).
type logOptions struct {
	Format string // "text" or "json"
	Level  string // "debug", "info", "warn", "error"
}

// addLogFlags registers --log-format and --log-level.
func addLogFlags(cmd *cobra.Command, o *logOptions) {
	cmd.Flags().StringVar(&o.Format, "log-format", "text", "log format: text (key=value) or json (one object per line)")
	cmd.Flags().StringVar(&o.Level, "log-level", "info", "log level: debug, info, warn or error")
}

// logger returns a slog.Logger writing to w as o says.
func (o logOptions) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(strings.ToLower(cmpOr(o.Level, "info")))); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", o.Level)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(cmpOr(o.Format, "text")) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", o.Format)
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
