# Helpers for the hardening tests (test/60-hardening-*.bats), on top of
# helpers.bash: throwaway certificates, servers over HTTPS.

bats_require_minimum_version 1.5.0
load helpers

# hd_setup: the test's directory and a free port for its server (PORT, U).
hd_setup() {
	sl_setup
	PORT=$(sl_free_port)
	U=http://127.0.0.1:$PORT
}

# hd_start_as NAME [CONFIG-LINES...]: slserve NAME on PORT with those settings.
hd_start_as() {
	local name=$1
	shift
	sl_server_config "$name" "$PORT" "$@"
	hd_start "$name" "$U"
}

# hd_ca DIR NAME: a throwaway CA (DIR/NAME.pem, DIR/NAME.key).
hd_ca() {
	mkdir -p "$1"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$1/$2.key" -out "$1/$2.pem" -days 2 -subj "/CN=$2" 2>/dev/null
}

# hd_cert DIR CA NAME IP: a server certificate for IP signed by CA
# (DIR/NAME.pem, DIR/NAME.key).
hd_cert() {
	local d=$1 ca=$2 name=$3 ip=$4
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$d/$name.key" -out "$d/$name.csr" -subj "/CN=$ip" 2>/dev/null || return 1
	printf 'subjectAltName=IP:%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
	    "$ip" >"$d/$name.ext"
	openssl x509 -req -in "$d/$name.csr" -CA "$d/$ca.pem" -CAkey "$d/$ca.key" \
	    -CAcreateserial -out "$d/$name.pem" -days 2 -extfile "$d/$name.ext" 2>/dev/null
}

# hd_start NAME URL [CURL-ARGS...]: start slserve NAME (config written by
# sl_server_config) and wait until URL/v1/health answers through curl with
# CURL-ARGS (e.g. --cacert FILE). The pid file lets sl_teardown stop it.
hd_start() {
	local name=$1 url=$2
	shift 2
	"$SLSERVE" -d -f "$SL_TMP/$name/slserve.conf" >>"$SL_TMP/$name/log" 2>&1 &
	echo $! >"$SL_TMP/$name.pid"
	sl_until 10 curl -fsS -m 1 -o /dev/null "$@" "$url/v1/health" 2>/dev/null ||
	    { cat "$SL_TMP/$name/log" >&2; return 1; }
}

# hd_log_has NAME REGEX: server NAME's log has a line matching REGEX.
hd_log_has() { grep -Eq -- "$2" "$SL_TMP/$1/log"; }
