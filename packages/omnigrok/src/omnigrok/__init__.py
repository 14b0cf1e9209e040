from omnigrok.train import TrainConfig, train, resolve
