# test/helpers-hardening.bash: what the hardening tests
# (test/60-hardening-*.bats) add to helpers.bash: one server's port and URL
# fixed at setup, throwaway certificates for servers over HTTPS (sl_start
# takes the curl options that verify them).

load helpers

# hd_setup NAME: the test's directory and a free port for its server NAME
# (PORT, U), which hd_start starts.
hd_setup() {
	sl_setup
	HD_NAME=$1
	PORT=$(sl_free_port)
	U=http://127.0.0.1:$PORT
}

# hd_start [CONFIG-LINES...]: the test's server on PORT with these settings
# (its config written anew).
hd_start() {
	sl_server_config "$HD_NAME" "$PORT" "$@"
	sl_start "$HD_NAME"
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
