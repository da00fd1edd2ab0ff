// quiz widget: see quizzes/
