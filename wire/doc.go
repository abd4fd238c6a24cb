// Package wire holds the messages of the forward protocol, ProtocolID
// ("/tessera/forward/1.0.0"), by which a client drives a node's layer range:
// open a session, forward hidden states (prefill many positions, decode
// one), ask for openings of the node's trace (audits), close.
//
// # Framing
//
// A frame is a uvarint length followed by that many bytes: one message-type
// byte and the message body. The reader states the largest length it
// accepts; a longer frame is refused with ErrTooLarge before anything is
// allocated for it.
//
// # Bodies
//
// Bodies use the protobuf wire format, encoded by hand with protowire (no
// generated code). The decoder is strict: every field of a message is
// required and written even when zero, a field may not appear twice, a
// known field must have its declared wire type, values must lie in their
// documented ranges, and the body must not be truncated. Unknown fields are
// skipped, so later versions may add fields. Any violation is an error
// wrapping ErrMalformed. Encoders apply the same checks, so a valid message
// always decodes to itself.
//
// The fields marked optional below were added with receipts and audits;
// they are written only when not empty, so a message without them encodes
// exactly as before, and a decoder treats an absent one as empty.
//
// The schema, in proto3 notation (all fields required unless marked):
//
//	message OpenSession   { uint32 version = 1; bytes model_commit = 2; // 32 bytes
//	                        uint32 first = 3; uint32 last = 4;           // layers [first, last)
//	                        uint32 max_positions = 5; DType dtype = 6;
//	                        optional bytes nonce = 7;                    // 32 bytes: sign receipts
//	                        optional bytes payer = 8;                    // Ed25519 ledger key, 32 bytes
//	                        optional bytes payer_sig = 9; }              // 64 bytes, with payer
//	message SessionOpened { uint64 session_id = 1; uint32 max_positions = 2; DType dtype = 3;
//	                        uint32 max_message_bytes = 4;
//	                        optional bytes node_key = 5; }               // Ed25519, 32 bytes
//	message Forward       { uint64 session_id = 1; uint64 step = 2;
//	                        uint32 start = 3; uint32 n = 4; bytes payload = 5; }
//	message ForwardResult { uint64 step = 1; uint32 start = 2; uint32 n = 3; bytes payload = 4;
//	                        optional bytes receipt = 5; }                // package proof, <= 4096 bytes
//	message CloseSession  { }
//	message Error         { Code code = 1; string message = 2; }
//	message Info          { uint32 version = 1; bytes model_commit = 2; uint32 first = 3;
//	                        uint32 last = 4; uint32 max_positions = 5; uint32 free_sessions = 6;
//	                        optional bytes node_key = 7; }
//	message OpenCells     { uint64 session_id = 1; bytes request = 2; }  // package proof's cell references
//	message Openings      { bytes body = 1; }                           // package proof's openings
//	message ReceiptRequest { uint64 session_id = 1; }                   // version 3
//	message ReceiptReply  { optional bytes receipt = 1; }                // package proof, <= 4096 bytes
//
// # Receipts and openings
//
// A client that sends a nonce in OpenSession gets the node's signed
// receipt of every forward call (package proof), and may then send
// OpenCells at any point between Forwards to fetch openings of cells of
// traces whose receipts it holds (vectors plus Merkle paths to the
// receipts' trace roots). A node answers Openings, or an Error with
// CodeGone, after which the session continues.
//
// When the receipt comes depends on the session's version. Up to version
// 2, every ForwardResult carries the receipt of its own call. From
// version 3 a receipt comes one call late: the node answers a Forward as
// soon as its output is computed and commits to the trace and signs while
// the client works on the next call, so the ForwardResult of step k
// carries the receipt of step k-1 (none at step 0). A ReceiptRequest makes
// the node deliver the receipt still owed (the last call's) in a
// ReceiptReply, which is empty when none is owed; the next ForwardResult
// then carries none. Clients send a ReceiptRequest before closing and
// whenever they need every receipt so far (to build a certificate, say).
// A node keeps at most one receipt owed per session.
//
// Info is not part of the forward protocol: a node sends it, alone, on
// streams of the info protocol (swarm.InfoProtocolID) so that clients learn
// which model and layers it serves before building a chain.
//
// # Hidden states
//
// A payload holds n positions × dim values, position-major, either as
// little-endian float32 (DTypeF32, bit-exact) or as IEEE binary16 rounded to
// nearest even (DTypeF16, half the bytes). EncodeHidden and DecodeHidden
// check the length and refuse NaN and infinite values.
package wire
