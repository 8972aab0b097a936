package transport

import (
	"bytes"
	"context"
	"log"
	"log/slog"
)

// memberlistLogger adapts memberlist's *log.Logger output to slog. memberlist
// marks each line with a "[DEBUG]", "[INFO]", "[WARN]" or "[ERR]" prefix;
// mapping that to the slog level keeps its chatty debug lines out of an
// info-level log while its warnings still reach the operator.
func memberlistLogger(l *slog.Logger) *log.Logger {
	return log.New(slogWriter{l: l}, "", 0)
}

type slogWriter struct{ l *slog.Logger }

var memberlistLevels = []struct {
	prefix []byte
	level  slog.Level
}{
	{[]byte("[DEBUG]"), slog.LevelDebug},
	{[]byte("[INFO]"), slog.LevelInfo},
	{[]byte("[WARN]"), slog.LevelWarn},
	{[]byte("[ERR]"), slog.LevelError},
	{[]byte("[ERROR]"), slog.LevelError},
}

func (w slogWriter) Write(p []byte) (int, error) {
	msg := bytes.TrimSpace(p)
	level := slog.LevelInfo
	for _, ml := range memberlistLevels {
		if rest, ok := bytes.CutPrefix(msg, ml.prefix); ok {
			msg, level = bytes.TrimSpace(rest), ml.level
			break
		}
	}
	if level == slog.LevelError && bytes.Contains(msg, []byte("use of closed network connection")) {
		// memberlist's listeners report their own closing, at shutdown,
		// as an error; it is the expected end of the node, not a fault.
		level = slog.LevelDebug
	}
	w.l.Log(context.Background(), level, string(msg))
	return len(p), nil
}
