# In us-east-1, creating a bucket one already owns succeeds, as on S3.
s3.create_bucket(Bucket='mine')
s3.put_object(Bucket='mine', Key='k', Body=b'kept')
s3.create_bucket(Bucket='mine')
assert s3.get_object(Bucket='mine', Key='k')['Body'].read() == b'kept'
print('ok')
