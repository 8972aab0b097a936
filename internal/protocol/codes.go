package protocol

import "slices"

// Error codes: the "code" of a WebSocket error message and of an HTTP error
// body. Clients switch on them, so a code never changes meaning.
const (
	// Both surfaces.
	UnknownType = "unknown_type"
	InvalidKey  = "invalid_key"
	WrongType   = "wrong_type"
	OutOfRange  = "out_of_range"
	Forbidden   = "forbidden"
	Unavailable = "unavailable"
	Internal    = "internal"

	// WebSocket only.
	BadJSON       = "bad_json"
	BadMessage    = "bad_message"
	InvalidDelta  = "invalid_delta"
	ForgedDot     = "forged_dot"
	UnseenDots    = "unseen_dots"
	DuplicateSub  = "duplicate_sub"
	UnknownSub    = "unknown_sub"
	TooManySubs   = "too_many_subs"
	RateLimited   = "rate_limited"
	PresenceLimit = "presence_limit"

	// HTTP only.
	MalformedJSON    = "malformed_json"
	UnknownField     = "unknown_field"
	DuplicateField   = "duplicate_field"
	UnknownOp        = "unknown_op"
	InvalidOp        = "invalid_op"
	InvalidValue     = "invalid_value"
	InvalidFaults    = "invalid_faults"
	InvalidQuery     = "invalid_query"
	BodyTooLarge     = "body_too_large"
	MethodNotAllowed = "method_not_allowed"
	NotFound         = "not_found"
	AdminDisabled    = "admin_disabled"
	NotImplemented   = "not_implemented"
	Unauthorized     = "unauthorized"
	TokenExpired     = "token_expired"
	UnsupportedMedia = "unsupported_media_type"
	NotDecider       = "not_decider"
	FoldNotStable    = "fold_not_stable"
)

// Retry is what a client does with a delta the node refused with a code.
type Retry uint8

const (
	// RetryNot: the code is not about a delta, or a client does not know it
	// (a later version may add codes). The delta stays pending and is sent
	// again on the next connection, not on this one.
	RetryNot Retry = iota
	// RetryNever: the node refused the delta's content; it can never
	// succeed. It leaves the pending list and the error handler hears it.
	RetryNever
	// RetryLater: the node refused it for timing; it is sent again on the
	// same connection after a delay.
	RetryLater
)

// CodeInfo is one error code: where the node answers it and what a client
// does with a delta refused with it.
type CodeInfo struct {
	Code  string
	HTTP  int  // the status over HTTP; 0: never answered over HTTP
	WS    bool // answered in WebSocket error messages
	Retry Retry
}

var codes = []CodeInfo{
	{UnknownType, 400, true, RetryNot},
	{InvalidKey, 400, true, RetryNever},
	{WrongType, 409, true, RetryNever},
	{OutOfRange, 400, true, RetryNever},
	{Forbidden, 403, true, RetryNever},
	{Unavailable, 503, true, RetryLater},
	{Internal, 500, true, RetryLater},

	{BadJSON, 0, true, RetryNot},
	{BadMessage, 0, true, RetryNever},
	{InvalidDelta, 0, true, RetryNever},
	{ForgedDot, 0, true, RetryNever},
	{UnseenDots, 0, true, RetryLater},
	{DuplicateSub, 0, true, RetryNot},
	{UnknownSub, 0, true, RetryNot},
	{TooManySubs, 0, true, RetryNot},
	{RateLimited, 0, true, RetryLater},
	{PresenceLimit, 0, true, RetryNot},

	{MalformedJSON, 400, false, RetryNot},
	{UnknownField, 400, false, RetryNot},
	{DuplicateField, 400, false, RetryNot},
	{UnknownOp, 400, false, RetryNot},
	{InvalidOp, 400, false, RetryNot},
	{InvalidValue, 400, false, RetryNot},
	{InvalidFaults, 400, false, RetryNot},
	{InvalidQuery, 400, false, RetryNot},
	{BodyTooLarge, 413, false, RetryNot},
	{MethodNotAllowed, 405, false, RetryNot},
	{NotFound, 404, false, RetryNot},
	{AdminDisabled, 403, false, RetryNot},
	{NotImplemented, 501, false, RetryNot},
	{Unauthorized, 401, false, RetryNot},
	{TokenExpired, 401, false, RetryNot},
	{UnsupportedMedia, 415, false, RetryNot},
	{NotDecider, 409, false, RetryNot},
	{FoldNotStable, 503, false, RetryNot},
}

// Codes returns every error code, sorted by code.
func Codes() []CodeInfo {
	cs := slices.Clone(codes)
	slices.SortFunc(cs, func(a, b CodeInfo) int {
		switch {
		case a.Code < b.Code:
			return -1
		case a.Code > b.Code:
			return 1
		}
		return 0
	})
	return cs
}

// Lookup returns code's entry, and false for a code this version does not
// know.
func Lookup(code string) (CodeInfo, bool) {
	for _, c := range codes {
		if c.Code == code {
			return c, true
		}
	}
	return CodeInfo{}, false
}

// RetryOf is what a client does with a delta refused with code; RetryNot
// for a code it does not know.
func RetryOf(code string) Retry {
	c, _ := Lookup(code)
	return c.Retry
}
