# Debian's boto3 sends "Expect: 100-continue" with a PutObject body and waits for the interim
# 100 before it sends the body; a zero-byte PUT must get it too, and must not stall.
import io, logging, tempfile
seen = []
class Seen(logging.Handler):
    def emit(self, record):
        seen.append(record.getMessage())
log = logging.getLogger('botocore.awsrequest')
log.setLevel(logging.DEBUG)
log.addHandler(Seen())
if not BUCKET:
    BUCKET = 'expect'
    s3.create_bucket(Bucket=BUCKET)
empty = tempfile.NamedTemporaryFile()
for name, body in (('bytes', lambda: b''), ('BytesIO', lambda: io.BytesIO(b'')),
        ('file', lambda: open(empty.name, 'rb')), ('small', lambda: io.BytesIO(b'small'))):
    del seen[:]
    start = time.monotonic()
    s3.put_object(Bucket=BUCKET, Key='empty', Body=body())
    took = time.monotonic() - start
    assert took < 3, 'PUT of %s took %.1fs' % (name, took)
    assert any('100 Continue response seen' in m for m in seen), (name, seen)
    s3.get_object(Bucket=BUCKET, Key='empty')['Body'].read()
start = time.monotonic()
s3.upload_fileobj(io.BytesIO(b''), BUCKET, 'upload')
took = time.monotonic() - start
assert took < 3, 'upload_fileobj of nothing took %.1fs' % took
print('ok')
