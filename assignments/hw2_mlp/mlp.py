"""Homework 2: a multilayer perceptron from scratch in NumPy, trained on handwritten digits.

Layouts follow PyTorch: a Linear layer with ``in_features`` inputs and ``out_features``
outputs has ``weight`` of shape (out_features, in_features) and ``bias`` of shape
(out_features,), and computes ``x @ weight.T + bias``. Batches are rows: x has shape (N, D).

Rules: return plain float64 ``np.ndarray`` objects (labels and predictions: int64); never
modify an argument in place, except the parameters an optimizer's ``step`` updates; NumPy
only (torch, jax, sklearn and edu_nn cannot be imported when grading).
"""
import numpy as np


# ----------------------------------------------------------------------------- layers
def linear_forward(x, weight, bias):
    """out = x @ weight.T + bias.

    Inputs:
    - x: array of shape (N, D_in)
    - weight: array of shape (D_out, D_in)
    - bias: array of shape (D_out,)

    Returns out, of shape (N, D_out).
    """
    # BEGIN SOLUTION
    return x @ weight.T + bias
    # END SOLUTION


def linear_backward(x, weight, grad):
    """Gradients of out = x @ weight.T + bias.

    Inputs:
    - x: the forward input, shape (N, D_in)
    - weight: shape (D_out, D_in)
    - grad: dL/dout, shape (N, D_out)

    Returns (grad_x, grad_weight, grad_bias) of shapes (N, D_in), (D_out, D_in), (D_out,).
    Hint: the bias is broadcast over the N rows, so its gradient sums over them.
    """
    # BEGIN SOLUTION
    grad_x = grad @ weight
    grad_weight = grad.T @ x
    grad_bias = grad.sum(axis=0)
    # END SOLUTION
    return grad_x, grad_weight, grad_bias


def relu_forward(x):
    """max(x, 0) elementwise; x: any shape; returns the same shape."""
    # BEGIN SOLUTION
    return np.maximum(x, 0.0)
    # END SOLUTION


def relu_backward(x, grad):
    """Gradient of relu_forward, with ReLU'(0) = 0. x, grad: same shape; returns that shape."""
    # BEGIN SOLUTION
    return grad * (x > 0)
    # END SOLUTION


def softmax_cross_entropy(logits, y):
    """Mean cross-entropy of softmax(logits) against integer labels, and its gradient.

        loss = -(1/N) * sum_n log softmax(logits[n])[y[n]]

    Inputs:
    - logits: array of shape (N, C), unnormalised scores; entries may be large (1e3 and
      more): compute log-softmax stably by subtracting each row's maximum (the log-sum-exp
      trick), never exponentiate raw logits.
    - y: int64 array of shape (N,), labels in 0..C-1.

    Returns (loss, dlogits): loss a Python float, dlogits = dloss/dlogits of shape (N, C).
    Hint: dlogits is (softmax(logits) - one_hot(y)) / N.
    """
    # BEGIN SOLUTION
    n = logits.shape[0]
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    log_probs = shifted - log_norm
    loss = -log_probs[np.arange(n), y].mean()
    dlogits = np.exp(log_probs)
    dlogits[np.arange(n), y] -= 1.0
    return float(loss), dlogits / n
    # END SOLUTION


# ------------------------------------------------------------------------- optimizers
class SGD:
    """Stochastic gradient descent with momentum, exactly as torch.optim.SGD (dampening 0,
    nesterov False).

    For each parameter p with gradient g, at every step:

        g <- g + weight_decay * p               (when weight_decay != 0)
        b <- g                     at the first step,
        b <- momentum * b + g      afterwards   (when momentum != 0; else b is g)
        p <- p - lr * b

    Inputs:
    - params: list of float64 arrays. ``step`` updates them IN PLACE (``p -= ...``), because
      the model holds these very arrays.
    - lr, momentum, weight_decay: floats.
    """

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0):
        self.params = list(params)
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        # The optimizer's state: one momentum buffer per parameter, empty until the first step.
        # BEGIN SOLUTION
        self.buffers = [None] * len(self.params)
        # END SOLUTION

    def step(self, grads):
        """One update. grads: list of arrays, grads[i] has the shape of params[i]."""
        # BEGIN SOLUTION
        for i, (p, g) in enumerate(zip(self.params, grads)):
            if self.weight_decay != 0:
                g = g + self.weight_decay * p
            if self.momentum != 0:
                if self.buffers[i] is None:
                    self.buffers[i] = np.array(g, dtype=np.float64)
                else:
                    self.buffers[i] = self.momentum * self.buffers[i] + g
                g = self.buffers[i]
            p -= self.lr * g
        # END SOLUTION


class Adam:
    """Adam with bias correction, exactly as torch.optim.Adam (amsgrad False).

    For each parameter p with gradient g, at step t = 1, 2, ...:

        g <- g + weight_decay * p                (when weight_decay != 0)
        m <- beta1 * m + (1 - beta1) * g         (m, v start at zero)
        v <- beta2 * v + (1 - beta2) * g * g
        m_hat = m / (1 - beta1 ** t);  v_hat = v / (1 - beta2 ** t)
        p <- p - lr * m_hat / (sqrt(v_hat) + eps)

    Inputs: params (list of float64 arrays, updated IN PLACE by ``step``), lr,
    betas = (beta1, beta2), eps, weight_decay.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        self.params = list(params)
        self.lr, self.betas, self.eps, self.weight_decay = lr, tuple(betas), eps, weight_decay
        # The optimizer's state: the step count t and the moments m and v of each parameter.
        # BEGIN SOLUTION
        self.t = 0
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        # END SOLUTION

    def step(self, grads):
        """One update. grads: list of arrays, grads[i] has the shape of params[i]."""
        # BEGIN SOLUTION
        beta1, beta2 = self.betas
        self.t += 1
        for i, (p, g) in enumerate(zip(self.params, grads)):
            if self.weight_decay != 0:
                g = g + self.weight_decay * p
            self.m[i] = beta1 * self.m[i] + (1 - beta1) * g
            self.v[i] = beta2 * self.v[i] + (1 - beta2) * g * g
            m_hat = self.m[i] / (1 - beta1 ** self.t)
            v_hat = self.v[i] / (1 - beta2 ** self.t)
            p -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)
        # END SOLUTION


# ------------------------------------------------------------------------------ model
class TwoLayerMLP:
    """logits = linear2(relu(linear1(x))): D_in -> hidden -> classes.

    Parameters (attributes, torch layouts): w1 (hidden, D_in), b1 (hidden,),
    w2 (classes, hidden), b2 (classes,). The grader sets them directly to test forward and
    backward, so keep these names.
    """

    def __init__(self, in_features, hidden_features, num_classes, seed=0):
        rng = np.random.default_rng(seed)
        # Kaiming (He) initialisation for the ReLU layer: N(0, 2 / fan_in); biases at 0.
        self.w1 = rng.standard_normal((hidden_features, in_features)) * np.sqrt(2.0 / in_features)
        self.b1 = np.zeros(hidden_features)
        self.w2 = (rng.standard_normal((num_classes, hidden_features))
                   * np.sqrt(1.0 / hidden_features))
        self.b2 = np.zeros(num_classes)

    def parameters(self):
        """[w1, b1, w2, b2]: the arrays themselves (an optimizer updates them in place)."""
        return [self.w1, self.b1, self.w2, self.b2]

    def forward(self, x):
        """x: (N, D_in) -> logits (N, classes). Keep what backward needs (e.g. in self.cache)."""
        # BEGIN SOLUTION
        pre = linear_forward(x, self.w1, self.b1)
        hidden = relu_forward(pre)
        self.cache = (x, pre, hidden)
        return linear_forward(hidden, self.w2, self.b2)
        # END SOLUTION

    def backward(self, dlogits):
        """dlogits: dL/dlogits (N, classes), for the last forward call.

        Returns [dw1, db1, dw2, db2], the gradients in the order of parameters()."""
        # BEGIN SOLUTION
        x, pre, hidden = self.cache
        dhidden, dw2, db2 = linear_backward(hidden, self.w2, dlogits)
        dpre = relu_backward(pre, dhidden)
        _, dw1, db1 = linear_backward(x, self.w1, dpre)
        return [dw1, db1, dw2, db2]
        # END SOLUTION

    def predict(self, x):
        """Predicted classes of x (N, D_in): int64 array (N,)."""
        return np.argmax(self.forward(x), axis=1).astype(np.int64)


def train_mlp(x_train, y_train, seed=0):
    """Train a TwoLayerMLP on (x_train, y_train) and return it.

    Inputs:
    - x_train: float64 array (N, 64), the 8x8 digit images flattened, pixel values in [0, 1].
    - y_train: int64 array (N,), labels 0..9.
    - seed: use it for the initialisation and the shuffling (np.random.default_rng(seed)),
      so that a run can be repeated.

    The grader calls it on ~1350 images and measures the accuracy of ``model.predict`` on
    ~450 held-out images: reach at least 95% within 60 seconds on one CPU core. Suggestion:
    hidden 128, minibatches of 32, Adam with lr 1e-3, 20-30 epochs (reshuffle every epoch).
    """
    # BEGIN SOLUTION
    shuffler = np.random.default_rng(seed)
    model = TwoLayerMLP(x_train.shape[1], 128, 10, seed=seed)
    optimizer = Adam(model.parameters(), lr=2e-3)
    n, batch = len(x_train), 32
    for epoch in range(40):
        order = shuffler.permutation(n)
        for start in range(0, n, batch):
            idx = order[start:start + batch]
            logits = model.forward(x_train[idx])
            _, dlogits = softmax_cross_entropy(logits, y_train[idx])
            optimizer.step(model.backward(dlogits))
    return model
    # END SOLUTION
