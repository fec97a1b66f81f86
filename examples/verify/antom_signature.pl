# Verify a notification in Antom's own format: what Antom sends to your notify URL, or what Caddy
# (antom_webhook with `forward_format antom`) forwards to your app. Perl 5.10+, core modules only.
#
#   require '/path/to/antom_signature.pl';
#   binmode STDIN; read(STDIN, my $body, $ENV{CONTENT_LENGTH} || 0);   # CGI: the raw bytes, never re-encoded
#   my $v = antom_verify_signature($ENV{ANTOM_PUBLIC_KEY}, $ENV{REQUEST_URI}, \%ENV, $body);
#   if (!$v->{ok}) { print "Status: $v->{status}\r\n\r\n$v->{reason}"; exit }   # it is sent again later
#   my $n = JSON::PP::decode_json($body);        # trusted: process it once, then answer the ack:
#   print "Status: 200\r\nContent-Type: application/json\r\n\r\n",
#         '{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"}}';
#
# $public_key: the key that signs these notifications, one-line base64 as the Antom dashboard
# shows it, or PEM. Behind Caddy that is Antom's public key when Caddy passes Antom's signature
# through, or the public half of `forward_key` when Caddy signs. While keys rotate, give a hash
# ref keyVersion => key: { 1 => $old, 2 => $new }.
# $path: the path (and query, if any) the sender posted to: REQUEST_URI in CGI and PSGI, unless a
# proxy in front of the app rewrites the URL.
# Headers: a hash ref with any case (client-id) or CGI/PSGI names (HTTP_CLIENT_ID).
# request-time is not checked for freshness: Antom and Caddy resend a notification for hours.
# Deduplicate on the notification's ids instead.
#
# Returns { ok => 1, keyVersion => v } or { ok => 0, status => 400|401|500, reason => why }:
# 401 bad signature or unknown key version, 400 missing/malformed headers, 500 unusable key.
#
# Why core modules only: Perl's core has no RSA, but verifying an RSA signature needs only the
# public key, so it is done with core Math::BigInt's bmodpow as RFC 8017 (8.2.2) describes: build
# the expected PKCS#1 v1.5 block for SHA-256 and compare it whole with signature^e mod n. Nothing
# secret is involved, and nothing needs installing (no Crypt::OpenSSL::RSA, no openssl process).
# In pure Perl a check takes about a quarter of a second; with Math::BigInt::GMP installed
# (Debian: libmath-bigint-gmp-perl) it is used, and takes a millisecond.
use strict;
use warnings;
use Digest::SHA qw(sha256);
use MIME::Base64 qw(decode_base64);
use Math::BigInt try => "GMP";

sub antom_verify_signature {
    my ($public_key, $path, $headers, $body) = @_;
    my %h;
    while (my ($name, $value) = each %$headers) {
        (my $n = lc $name) =~ tr/_/-/;
        $n =~ s/^http-//;
        ($h{$n} = defined $value ? $value : '') =~ s/^\s+|\s+$//g;
    }
    my $fail = sub { return { ok => 0, status => $_[0], reason => $_[1] } };
    for my $need (qw(client-id request-time signature)) {
        return $fail->(400, "missing header $need") unless defined $h{$need} && length $h{$need};
    }

    # algorithm=RSA256,keyVersion=1,signature=<url-encoded base64>; spaces after commas allowed.
    my %p;
    for my $part (split /,/, $h{signature}) {
        my ($name, $value) = split /=/, $part, 2;
        next unless defined $value;
        s/^\s+|\s+$//g for $name, $value;
        $p{lc $name} = $value;
    }
    return $fail->(400, 'signature algorithm is not RSA256') if defined $p{algorithm} && uc $p{algorithm} ne 'RSA256';
    my $version = defined $p{keyversion} && length $p{keyversion} ? $p{keyversion} : '1';
    # Percent-decoding only (a raw '+' stays); a space is a '+' a proxy form-decoded.
    (my $b64 = defined $p{signature} ? $p{signature} : '') =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
    $b64 =~ tr/ /+/;
    return $fail->(400, 'signature header has no base64 signature= value') unless $b64 =~ m{^[A-Za-z0-9+/]+={0,2}$};
    my $sig = decode_base64($b64);

    if (ref $public_key eq 'HASH') {
        return $fail->(401, "no public key configured for keyVersion $version") unless defined $public_key->{$version};
        $public_key = $public_key->{$version};
    }
    my ($n, $e) = _antom_rsa_public_key(defined $public_key ? $public_key : '');
    return $fail->(500, 'the configured public key is not an RSA public key (base64 or PEM)') unless $n;

    my $content = "POST $path\n$h{'client-id'}.$h{'request-time'}.$body";
    my $k = length $n;
    my $digest_info = pack('H*', '3031300d060960864801650304020105000420') . sha256($content);
    my $expected = "\x00\x01" . ("\xff" x ($k - 3 - length $digest_info)) . "\x00" . $digest_info;
    my ($N, $S) = map { Math::BigInt->new("0x" . unpack "H*", $_) } $n, $sig;
    my $ok = length($sig) == $k && $S < $N;
    if ($ok) {
        (my $hex = $S->bmodpow(Math::BigInt->new("0x" . unpack "H*", $e), $N)->as_hex) =~ s/^0x//;
        $ok = ('0' x (2 * $k - length $hex)) . $hex eq unpack('H*', $expected);
    }
    return $fail->(401, "bad signature for keyVersion $version (wrong public key, or path/client-id/request-time/body changed)") unless $ok;
    return { ok => 1, keyVersion => $version };
}

# The modulus and exponent (big-endian bytes, no leading zero) of a SubjectPublicKeyInfo, one-line
# base64 or PEM; () when it is not one.
sub _antom_rsa_public_key {
    (my $b64 = shift) =~ s/-----[A-Z ]+-----|\s//g;
    return () unless $b64 =~ m{^[A-Za-z0-9+/]+={0,2}$};
    my $der = decode_base64($b64);
    my $take = sub {    # splits one DER element with the given tag off the front of $_[0]
        my $tag = $_[1];
        return undef unless length $_[0] >= 2 && ord($_[0]) == $tag;
        my ($len, $i) = (ord(substr $_[0], 1, 1), 2);
        if ($len & 0x80) {
            $i = 2 + ($len & 0x7f);
            return undef if $i > 6 || length $_[0] < $i;
            $len = hex(unpack 'H*', substr $_[0], 2, $i - 2);
        }
        return undef if length $_[0] < $i + $len;
        my $content = substr $_[0], $i, $len;
        substr($_[0], 0, $i + $len) = '';
        return $content;
    };
    my $spki = $take->($der, 0x30) // return ();
    my $alg  = $take->($spki, 0x30) // return ();
    my $bits = $take->($spki, 0x03) // return ();
    return () unless index($alg, pack('H*', '06092a864886f70d010101')) == 0 && $bits =~ s/^\x00//;
    my $seq = $take->($bits, 0x30) // return ();
    my $n   = $take->($seq, 0x02) // return ();
    my $e   = $take->($seq, 0x02) // return ();
    $n =~ s/^\x00+//;
    return ($n, $e);
}

1;
