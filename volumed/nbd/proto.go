package nbd

import (
	"encoding/binary"
	"errors"
)

// Wire values of the NBD protocol (the NBD project's doc/proto.md). They are the protocol:
// never renumber.
const (
	magicNBD             = 0x4e42444d41474943 // "NBDMAGIC", first in the greeting
	magicOpt             = 0x49484156454f5054 // "IHAVEOPT", greeting and every option
	magicOptReply        = 0x0003e889045565a9
	magicRequest         = 0x25609513
	magicSimpleReply     = 0x67446698
	magicStructuredReply = 0x668e33ef
)

// Handshake flags the server sends, and client flags it accepts.
const (
	flagFixedNewstyle uint16 = 1 << 0
	flagNoZeroes      uint16 = 1 << 1

	clientFixedNewstyle uint32 = 1 << 0
	clientNoZeroes      uint32 = 1 << 1
)

// Transmission flags.
const (
	tflagHasFlags        uint16 = 1 << 0
	tflagReadOnly        uint16 = 1 << 1
	tflagSendFlush       uint16 = 1 << 2
	tflagSendFUA         uint16 = 1 << 3
	tflagRotational      uint16 = 1 << 4
	tflagSendTrim        uint16 = 1 << 5
	tflagSendWriteZeroes uint16 = 1 << 6
	tflagSendDF          uint16 = 1 << 7
	tflagCanMultiConn    uint16 = 1 << 8
	tflagSendResize      uint16 = 1 << 9
	tflagSendCache       uint16 = 1 << 10
	tflagSendFastZero    uint16 = 1 << 11
)

// Options (the client's requests during the handshake).
const (
	optExportName      uint32 = 1
	optAbort           uint32 = 2
	optList            uint32 = 3
	optPeekExport      uint32 = 4
	optStartTLS        uint32 = 5
	optInfo            uint32 = 6
	optGo              uint32 = 7
	optStructuredReply uint32 = 8
	optListMetaContext uint32 = 9
	optSetMetaContext  uint32 = 10
	optExtendedHeaders uint32 = 11
)

// Option reply types; errors have bit 31 set.
const (
	repAck              uint32 = 1
	repServer           uint32 = 2
	repInfo             uint32 = 3
	repMetaContext      uint32 = 4
	repErrUnsup         uint32 = 1<<31 + 1
	repErrPolicy        uint32 = 1<<31 + 2
	repErrInvalid       uint32 = 1<<31 + 3
	repErrPlatform      uint32 = 1<<31 + 4
	repErrTLSReqd       uint32 = 1<<31 + 5
	repErrUnknown       uint32 = 1<<31 + 6
	repErrShutdown      uint32 = 1<<31 + 7
	repErrBlockSizeReqd uint32 = 1<<31 + 8
	repErrTooBig        uint32 = 1<<31 + 9
)

// Information types of NBD_OPT_INFO and NBD_OPT_GO.
const (
	infoExport      uint16 = 0
	infoName        uint16 = 1
	infoDescription uint16 = 2
	infoBlockSize   uint16 = 3
)

// Commands of the transmission phase.
const (
	cmdRead        uint16 = 0
	cmdWrite       uint16 = 1
	cmdDisc        uint16 = 2
	cmdFlush       uint16 = 3
	cmdTrim        uint16 = 4
	cmdCache       uint16 = 5
	cmdWriteZeroes uint16 = 6
	cmdBlockStatus uint16 = 7
)

// Command flags.
const (
	cmdFlagFUA      uint16 = 1 << 0
	cmdFlagNoHole   uint16 = 1 << 1
	cmdFlagDF       uint16 = 1 << 2
	cmdFlagReqOne   uint16 = 1 << 3
	cmdFlagFastZero uint16 = 1 << 4
)

// Structured reply flags and chunk types; error chunks have bit 15 set.
const (
	replyFlagDone uint16 = 1 << 0

	replyNone        uint16 = 0
	replyOffsetData  uint16 = 1
	replyOffsetHole  uint16 = 2
	replyBlockStatus uint16 = 5
	replyError       uint16 = 1<<15 + 1
	replyErrorOffset uint16 = 1<<15 + 2
)

// errno is an error value of a reply. The protocol fixes the set and the numbers.
type errno uint32

const (
	errnoOK       errno = 0
	errnoPerm     errno = 1
	errnoIO       errno = 5
	errnoNoMem    errno = 12
	errnoInval    errno = 22
	errnoNoSpace  errno = 28
	errnoOverflow errno = 75
	errnoNotSup   errno = 95
	errnoShutdown errno = 108
)

// String returns the lowercase name used in metric labels and logs.
func (e errno) String() string {
	switch e {
	case errnoOK:
		return "ok"
	case errnoPerm:
		return "eperm"
	case errnoIO:
		return "eio"
	case errnoNoMem:
		return "enomem"
	case errnoInval:
		return "einval"
	case errnoNoSpace:
		return "enospc"
	case errnoOverflow:
		return "eoverflow"
	case errnoNotSup:
		return "enotsup"
	case errnoShutdown:
		return "eshutdown"
	}
	return "other"
}

// Sizes of fixed wire messages.
const (
	greetingLen         = 8 + 8 + 2     // NBDMAGIC, IHAVEOPT, handshake flags
	optHeaderLen        = 8 + 4 + 4     // IHAVEOPT, option, length
	optReplyHeaderLen   = 8 + 4 + 4 + 4 // magic, option, reply type, length
	requestLen          = 4 + 2 + 2 + 8 + 8 + 4
	simpleReplyLen      = 4 + 4 + 8
	structuredHeaderLen = 4 + 2 + 2 + 8 + 4
)

// Limits the protocol sets.
const (
	// maxStringLen is the longest string (export name, description, query) the protocol
	// allows.
	maxStringLen = 4096
	// portableMaxPayload is the payload length below which the protocol says a request must
	// not be treated as a denial of service, whatever block size was advertised (2^25).
	portableMaxPayload = 32 << 20
)

// errBadMagic is returned by parseRequest and parseOptionHeader when a message does not
// start with its magic: the stream is out of step and the connection must be dropped.
var errBadMagic = errors.New("nbd: bad magic")

// request is the fixed header of a transmission request.
type request struct {
	flags  uint16
	typ    uint16
	handle uint64
	offset uint64
	length uint32
}

// parseRequest decodes a request header.
func parseRequest(b *[requestLen]byte) (request, error) {
	if binary.BigEndian.Uint32(b[0:]) != magicRequest {
		return request{}, errBadMagic
	}
	return request{
		flags:  binary.BigEndian.Uint16(b[4:]),
		typ:    binary.BigEndian.Uint16(b[6:]),
		handle: binary.BigEndian.Uint64(b[8:]),
		offset: binary.BigEndian.Uint64(b[16:]),
		length: binary.BigEndian.Uint32(b[24:]),
	}, nil
}

// appendRequest encodes a request header; parseRequest inverts it.
func appendRequest(b []byte, r request) []byte {
	b = binary.BigEndian.AppendUint32(b, magicRequest)
	b = binary.BigEndian.AppendUint16(b, r.flags)
	b = binary.BigEndian.AppendUint16(b, r.typ)
	b = binary.BigEndian.AppendUint64(b, r.handle)
	b = binary.BigEndian.AppendUint64(b, r.offset)
	return binary.BigEndian.AppendUint32(b, r.length)
}

// optionHeader is the fixed header of a handshake option.
type optionHeader struct {
	option uint32
	length uint32
}

// parseOptionHeader decodes an option header.
func parseOptionHeader(b *[optHeaderLen]byte) (optionHeader, error) {
	if binary.BigEndian.Uint64(b[0:]) != magicOpt {
		return optionHeader{}, errBadMagic
	}
	return optionHeader{
		option: binary.BigEndian.Uint32(b[8:]),
		length: binary.BigEndian.Uint32(b[12:]),
	}, nil
}

// appendOptionHeader encodes an option header; parseOptionHeader inverts it.
func appendOptionHeader(b []byte, h optionHeader) []byte {
	b = binary.BigEndian.AppendUint64(b, magicOpt)
	b = binary.BigEndian.AppendUint32(b, h.option)
	return binary.BigEndian.AppendUint32(b, h.length)
}

// cmdName returns the op label of a command type for metrics and logs.
func cmdName(typ uint16) string {
	switch typ {
	case cmdRead:
		return "read"
	case cmdWrite:
		return "write"
	case cmdDisc:
		return "disc"
	case cmdFlush:
		return "flush"
	case cmdTrim:
		return "trim"
	case cmdCache:
		return "cache"
	case cmdWriteZeroes:
		return "write_zeroes"
	case cmdBlockStatus:
		return "block_status"
	}
	return "unknown"
}
