# Test-only PKI for the external-etcd VM test: a CA, a server certificate for etcd on
# 127.0.0.1/localhost and a client certificate for the hub. Usage: etcd-certs.sh OUTDIR.
# (Keys made at build time end up in the Nix store: fine for a test, never for real use.)
set -eu
out=$1
mkdir -p "$out"
cd "$out"

openssl ecparam -name prime256v1 -genkey -noout -out ca.key
openssl req -x509 -new -key ca.key -sha256 -days 3650 -subj "/CN=etcd test CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out ca.crt

leaf() {
  name=$1 cn=$2 usage=$3 san=$4
  openssl ecparam -name prime256v1 -genkey -noout -out "$name.key.sec1"
  openssl pkcs8 -topk8 -nocrypt -in "$name.key.sec1" -out "$name.key"
  rm "$name.key.sec1"
  openssl req -new -key "$name.key" -subj "/CN=$cn" -out "$name.csr"
  printf '%s\n' \
    "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=$usage" \
    "subjectAltName=$san" > "$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -sha256 \
    -days 3650 -extfile "$name.ext" -out "$name.crt"
  rm "$name.csr" "$name.ext"
}

leaf server "etcd" "serverAuth,clientAuth" "IP:127.0.0.1,DNS:localhost"
leaf client "multicluster-controlplane" "clientAuth" "DNS:multicluster-controlplane"
rm -f ca.srl
chmod 0444 ./*
