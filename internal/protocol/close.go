package protocol

// WebSocket close codes of docs/protocol.md ("Close codes"). A node closes
// with them; a client reports their reason.
const (
	CloseUnsupportedVersion = 4001
	CloseHelloRequired      = 4002
	CloseUnauthorized       = 4003
	CloseTokenExpired       = 4004
	CloseTooSlow            = 4008
	// CloseMessageTooBig is RFC 6455's: a frame over the node's max_frame.
	CloseMessageTooBig = 1009
)

// closeReasons are the reasons sent with the close codes above.
var closeReasons = map[int]string{
	CloseMessageTooBig:      "frame_too_big",
	CloseUnsupportedVersion: "unsupported_version",
	CloseHelloRequired:      "hello_required",
	CloseUnauthorized:       "unauthorized",
	CloseTokenExpired:       "token_expired",
	CloseTooSlow:            "too_slow",
}

// CloseReason is the reason for close code c, and whether c is one of the
// protocol's.
func CloseReason(c int) (string, bool) {
	r, ok := closeReasons[c]
	return r, ok
}

// CloseCodes lists the protocol's close codes, in ascending order.
func CloseCodes() []int {
	return []int{CloseMessageTooBig, CloseUnsupportedVersion, CloseHelloRequired, CloseUnauthorized, CloseTokenExpired, CloseTooSlow}
}
