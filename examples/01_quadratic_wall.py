# %% [markdown]
# # Lab 1
# %%
import torch
print(torch.__version__)
