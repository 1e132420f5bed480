# boto3 refuses to send non-ASCII metadata itself, but reads what another client stored:
# RFC 2047-encoded, as S3 returns it. An encoded value it sends comes back as sent.
import email.header
def decoded(v):
    return ''.join(p.decode(c or 'ascii') if isinstance(p, bytes) else p for p, c in email.header.decode_header(v))
got = s3.head_object(Bucket=BUCKET, Key='k')['Metadata']
assert decoded(got['name']) == 'café ☕ naïve', got
s3.put_object(Bucket=BUCKET, Key='enc', Body=b'x', Metadata={'name': '=?UTF-8?B?Y2Fmw6k=?='})
got = s3.get_object(Bucket=BUCKET, Key='enc')['Metadata']
assert got == {'name': '=?UTF-8?B?Y2Fmw6k=?='}, got
print('ok')
