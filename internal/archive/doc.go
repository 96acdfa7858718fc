// Package archive moves an application directory between a developer's
// machine and a paved cell.
//
// The client side packs a directory with [Pack] into a gzip-compressed tar
// that is reproducible: the same tree always yields the same bytes, so the
// cell, which stores uploads by sha256 ([Digest]), sees an unchanged app as
// the same object and can skip the upload and the rebuild. Everything that
// varies between checkouts but is irrelevant to a build (mtimes, owners,
// group/other permission bits, directory order, gzip timestamps) is
// normalised away. Files listed in a [IgnoreFile] at the root of the tree,
// and any .git, are left out.
//
// The cell side unpacks uploads with [ExtractFile] or [Extract]. Uploads are
// untrusted, so extraction is defensive: entry names and symlink targets
// must stay inside the destination, nothing is written through a symlink,
// special files are refused, and sizes and entry counts are capped by
// [Limits] using the bytes actually decompressed rather than what headers
// claim. Every such refusal wraps [ErrUnsafe], [ErrTooLarge] or [ErrFormat]
// (see [IsInvalid]), so a caller can answer "your archive is bad" (HTTP 422)
// separately from its own I/O failures.
package archive

import "errors"

// Sentinel errors returned, wrapped with the offending entry's name, by
// [Extract] and [ExtractFile]. They all mean the upload itself is at fault.
var (
	// ErrUnsafe marks an entry that would escape the destination, write
	// through a symlink, or create a special file.
	ErrUnsafe = errors.New("unsafe archive entry")
	// ErrTooLarge marks an archive exceeding [Limits].
	ErrTooLarge = errors.New("archive too large")
	// ErrFormat marks input that is not a tar, tar.gz or zip archive, or one
	// that is corrupt or truncated.
	ErrFormat = errors.New("not a tar.gz or zip archive")
)

// IsInvalid reports whether err blames the archive rather than the system
// extracting it, i.e. whether it wraps ErrUnsafe, ErrTooLarge or ErrFormat.
func IsInvalid(err error) bool {
	return errors.Is(err, ErrUnsafe) || errors.Is(err, ErrTooLarge) || errors.Is(err, ErrFormat)
}
