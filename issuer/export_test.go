package issuer

// RefreshHash exposes refreshHash to the tests.
var RefreshHash = refreshHash

// DecodeBody exposes decodeBody to the fuzz targets.
var DecodeBody = decodeBody

// ParseNumericDate exposes parseNumericDate to the tests.
var ParseNumericDate = parseNumericDate
